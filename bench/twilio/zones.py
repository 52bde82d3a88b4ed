"""US and European zones in their diary evening at any hour: the study's clock moved, not the zones.

The trial's patients live in US and European zones, whose evenings (19:00 prompt, window
17:00-03:00) never all fall at the time a benchmark runs. Instead of picking whatever zones
are in their evening (Asia at 13:00 UTC), the benchmark loads studies/true-ad.toml with
every local time of day (window, prompts, quiet hours, visit and stop prompts) moved by
the same number of minutes, so that in America/Chicago tonight's prompt was due five
minutes ago. The study's shape is unchanged: the window is 10 h long, the prompt 2 h after
it opens, the reminder and quiet hours where they were relative to it.

US Central and Eastern and Western and Central European zones span 7 hours (UTC-6 to
UTC+1 in winter): the window closes 8 h after the prompt, so in Central Europe it closes
about 55 minutes after the peak starts (whose prompts go first: earliest deadline first).
Pacific and Mountain time and Eastern Europe would need a window longer than the trial's.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "studies" / "true-ad.toml"
US = ["America/Chicago", "America/New_York", "America/Detroit", "America/Indiana/Indianapolis",
      "America/Kentucky/Louisville", "America/Menominee", "America/Indiana/Knox", "America/North_Dakota/Center",
      "America/Indiana/Vincennes", "America/Kentucky/Monticello"]
EUROPE = ["Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Berlin", "Europe/Madrid",
          "Europe/Rome", "Europe/Amsterdam", "Europe/Brussels", "Europe/Warsaw"]
ZONES = US + EUROPE
PROMPT = "19:00"  # the study's diary_prompt
TIME_KEYS = ("opens", "closes", "diary_prompt", "diary_reminder", "quiet_hours_start", "quiet_hours_end",
             "visit_reminder_time", "lesion_checkin_time", "stop_prompt_time")


def shift_minutes(now: datetime, zone: str = "America/Chicago", ago: timedelta = timedelta(minutes=5)) -> int:
    """Minutes to add to the study's times so that the prompt in `zone` was due `ago` before now."""
    local = (now - ago).astimezone(ZoneInfo(zone))
    hours, minutes = map(int, PROMPT.split(":"))
    return (local.hour * 60 + local.minute - hours * 60 - minutes) % (24 * 60)


def shifted_study(minutes: int) -> str:
    """studies/true-ad.toml with every local time of day moved by `minutes` (mod 24 h)."""

    def move(match: re.Match) -> str:
        key, hh, mm = match.group(1), int(match.group(2)), int(match.group(3))
        total = (hh * 60 + mm + minutes) % (24 * 60)
        return f'{key} = "{total // 60:02d}:{total % 60:02d}"'

    text = STUDY.read_text()
    pattern = re.compile(rf'^({"|".join(TIME_KEYS)}) = "(\d\d):(\d\d)"', re.M)
    moved, count = pattern.subn(move, text)
    if count != len(TIME_KEYS):
        raise SystemExit(f"expected {len(TIME_KEYS)} times of day in {STUDY}, moved {count}")
    return moved
