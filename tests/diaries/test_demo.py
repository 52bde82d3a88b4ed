"""The demo a newcomer gets: obviously fake numbers, none shared by a site and a participant."""

import re

import pytest
from django.core.management import call_command

from diaries.models import Participant, Site

pytestmark = pytest.mark.django_db


def test_demo_numbers_are_fictional_and_distinct():
    call_command("load_demo")
    sites = {s.phone for s in Site.objects.filter(study__code="TRUE-AD")}
    people = [p.phone for p in Participant.objects.filter(study__code="TRUE-AD")]
    assert len(people) == len(set(people)) == 5
    assert not sites & set(people), sites & set(people)
    north_american = [n for n in people if n.startswith("+1")]
    assert north_american and all(re.fullmatch(r"\+1\d{3}55501\d\d", n) for n in north_american), north_american
