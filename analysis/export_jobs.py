"""Sponsor exports as jobs: requested through the API, worked by a Celery task after commit,
their files served only as their manifest lists them. Each step is audit-logged.

The task lives here, beside the function it runs, so the request enqueues it without an
import back (analysis/tasks.py only registers it for the worker's autodiscovery).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date
from pathlib import Path

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from diaries import audit
from diaries.models import Study

from . import selectors
from .access import can_see_arms, can_use_sponsor_api
from .export import FORMATS, UnrandomizedParticipants, audited_export_transfer, unrandomized_participants
from .models import Export, ExportStatus, export_directory

logger = logging.getLogger(__name__)


class ExportRefused(PermissionError):
    pass


class FileChanged(RuntimeError):
    pass


@transaction.atomic
def request_export(*, user, study: Study, formats=("csv",), unblinded: bool = False,
                   as_of: date | None = None, exclude_unrandomized: bool = False, dispatch: bool = True) -> Export:
    """Queue an export for `user`; unblinded only for users allowed to see arms. Worked after commit.

    An unblinded request is refused at once (UnrandomizedParticipants) when analysis-set
    participants have no randomization, unless they are explicitly excluded.
    """
    if not can_use_sponsor_api(user):
        raise ExportRefused("only sponsors and unblinded statisticians may export")
    if unblinded and not can_see_arms(user):
        raise ExportRefused("an unblinded export needs the permission to see the randomization")
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown format(s) {', '.join(sorted(unknown))}; known: {', '.join(FORMATS)}")
    if unblinded and not exclude_unrandomized:
        missing = unrandomized_participants(selectors.transfer_participants(study, unblinded=True))
        if missing:
            raise UnrandomizedParticipants(missing)
    export = Export(study=study, requested_by=user, unblinded=unblinded, as_of=as_of,
                    exclude_unrandomized=exclude_unrandomized and unblinded,
                    formats=sorted({"csv", *formats}), created_at=timezone.now())
    export.directory = str(export_directory(export.id))
    export.save()
    audit.log(actor=user, action="export.request", obj=export,
              after={"export": export.id, "unblinded": unblinded, "formats": export.formats, "as_of": as_of,
                     "exclude_unrandomized": export.exclude_unrandomized})
    if dispatch:  # the demo works its export at once, before any worker runs
        transaction.on_commit(lambda: work_export_task.delay(str(export.id)))
    return export


def work_export(export_id) -> str:
    """Work one queued export: claimed once (queued -> running), then done with its manifest, or failed.

    Safe to run twice: a second run finds the row no longer queued and does nothing.
    """
    now = timezone.now()
    claimed = Export.objects.filter(id=export_id, status=ExportStatus.QUEUED).update(
        status=ExportStatus.RUNNING, started_at=now)
    if not claimed:
        return "skipped"
    export = Export.objects.select_related("study", "requested_by").get(id=export_id)
    try:
        # The permission is checked again: it may have been withdrawn since the request.
        if export.unblinded and not can_see_arms(export.requested_by):
            raise ExportRefused(f"{export.requested_by} may no longer see the randomization")
        directory = export.path
        directory.parent.mkdir(parents=True, exist_ok=True)
        manifest = audited_export_transfer(study=export.study, directory=directory, formats=export.formats,
                                           unblinded=export.unblinded, actor=export.requested_by,
                                           as_of=export.as_of, exclude_unrandomized=export.exclude_unrandomized)
    except Exception as exc:  # recorded on the row and in the log, never swallowed
        logger.exception("export %s failed", export_id)
        Export.objects.filter(id=export_id, status=ExportStatus.RUNNING).update(
            status=ExportStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now())
        audit.log(actor="system:export", action="export.failed", obj=export,
                  after={"export": export.id, "error": type(exc).__name__})
        return ExportStatus.FAILED
    Export.objects.filter(id=export_id, status=ExportStatus.RUNNING).update(
        status=ExportStatus.DONE, manifest=manifest, finished_at=timezone.now())
    return ExportStatus.DONE


# The name is the one queued messages already carry (the task was analysis.tasks.run_export).
@shared_task(name="analysis.tasks.run_export", acks_late=True)
def work_export_task(export_id: str) -> str:
    return work_export(export_id)


def open_export_file(*, export: Export, name: str, user) -> tuple[Path, str]:
    """The path of one manifest file, checked against its SHA-256; the download is audit-logged.

    Only names listed in the manifest are served, so no path of the caller's reaches the
    file system. A file that no longer matches its manifest checksum is refused.
    """
    entry = export.file_entry(name)
    if entry is None:
        raise FileNotFoundError(name)
    path = export.path / entry["name"]
    if not path.is_file() or path.resolve().parent != export.path.resolve():
        raise FileNotFoundError(name)
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    sha256 = digest.hexdigest()
    if sha256 != entry["sha256"]:
        audit.log(actor=user, action="export.download_refused", obj=export,
                  after={"export": export.id, "file": name} if export.unblinded
                  else {"export": export.id, "file": name, "sha256": sha256, "expected": entry["sha256"]})
        raise FileChanged(f"{name} no longer matches its manifest checksum")
    audit.log(actor=user, action="export.download", obj=export,
              after={"export": export.id, "file": name} if export.unblinded
              else {"export": export.id, "file": name, "sha256": sha256})
    return path, sha256
