"""Celery tasks of the analysis side: thin, take ids, safe to run twice."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def run_export(export_id: str) -> str:
    return services.perform_export(export_id)
