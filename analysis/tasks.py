"""Celery tasks of the analysis side: thin, take ids, safe to run twice. The export task lives beside
the function it runs (export_jobs.py); importing it here registers it for the worker's autodiscovery."""

from analysis.export_jobs import work_export_task  # noqa: F401 - registered for autodiscovery
