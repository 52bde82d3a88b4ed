"""Writes of the analysis side: exports, each audit-logged with its checksums."""

from __future__ import annotations

from typing import Any

from diaries import audit
from diaries.models import Study

from .export import export_transfer


def run_export(*, study: Study, directory, formats, unblinded: bool, actor: Any, as_of=None) -> dict:
    """Write a transfer and record who exported what, with every file's SHA-256."""
    manifest = export_transfer(study=study, directory=directory, unblinded=unblinded, formats=formats, as_of=as_of)
    audit.log(actor=actor, action="export.transfer", obj=study,
              after={"unblinded": unblinded, "formats": list(formats), "files": manifest["files"]})
    return manifest
