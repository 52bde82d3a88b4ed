"""Studies and their sites, from the study TOML."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from diaries.protocol.study_config import parse_study_config

from . import audit
from .models import Site, Study


@transaction.atomic
def load_study(*, text: str, actor: Any = None) -> tuple[Study, bool]:
    """Create or update a study and its sites from a TOML text; (study, changed). Same text: no-op."""
    rules = parse_study_config(text)
    now = timezone.now()
    study = Study.objects.select_for_update().filter(code=rules.code).first()
    if study and study.config_hash == rules.content_hash:
        return study, False
    if study is None:
        study = Study.objects.create(
            code=rules.code, name=rules.name, config_toml=text, config_hash=rules.content_hash, loaded_at=now
        )
        audit.log(actor=actor, action="study.create", obj=study, after={"config_hash": rules.content_hash})
    else:
        before = {"config_hash": study.config_hash, "name": study.name}
        study.name, study.config_toml, study.config_hash, study.loaded_at = rules.name, text, rules.content_hash, now
        study.save()
        audit.log(
            actor=actor, action="study.update", obj=study, before=before,
            after={"config_hash": rules.content_hash, "name": rules.name},
        )
    for cfg in rules.sites:
        fields = {"name": cfg.name, "country": cfg.country, "zone": cfg.zone, "phone": cfg.phone, "hours": cfg.hours}
        site = Site.objects.filter(study=study, number=cfg.number).first()
        if site is None:
            site = Site.objects.create(study=study, number=cfg.number, **fields)
            audit.log(actor=actor, action="site.create", obj=site, after=fields)
        else:
            before = {k: getattr(site, k) for k in fields}
            if before != fields:
                Site.objects.filter(pk=site.pk).update(**fields)
                audit.log(actor=actor, action="site.update", obj=site, before=before, after=fields)
    return study, True
