"""Sponsor exports: one row per requested transfer, worked by a Celery task."""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Export(models.Model):
    """A transfer requested through the API; its files live in `directory` once done."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey("diaries.Study", on_delete=models.PROTECT, related_name="exports")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="exports")
    # Fixed when requested, from the requester's permission at that moment: a blinded
    # request stays blinded whatever the randomization table holds when it runs.
    unblinded = models.BooleanField(default=False)
    # Unblinded only: analysis-set participants without a randomization are left out (and
    # listed in the manifest and report) instead of refusing the export.
    exclude_unrandomized = models.BooleanField(default=False)
    formats = models.JSONField(default=list)
    as_of = models.DateField(null=True, blank=True, help_text="Data cut-off; default: the export's date (UTC)")
    status = models.CharField(max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    manifest = models.JSONField(null=True, blank=True)
    directory = models.CharField(max_length=500, help_text="Where the transfer files are written")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self):
        return f"export {self.id} ({self.status})"

    @property
    def path(self) -> Path:
        return Path(self.directory)

    def file_names(self) -> list[str]:
        return [f["name"] for f in (self.manifest or {}).get("files", [])]

    def file_entry(self, name: str) -> dict | None:
        return next((f for f in (self.manifest or {}).get("files", []) if f["name"] == name), None)


def export_directory(export_id) -> Path:
    return Path(settings.VAR_DIR) / "exports" / str(export_id)
