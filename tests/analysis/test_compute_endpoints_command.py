import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.analysis.trial_files import TrialFiles, itch, participant

ROOT = Path(__file__).resolve().parents[2]


def good_files() -> TrialFiles:
    return TrialFiles([participant("S1")], itch("S1", {-7: 6, -6: 6, -5: 6, -4: 6, 1: 2}))


def test_command_writes_the_four_output_files(tmp_path):
    call_command("compute_endpoints", "--input", str(good_files().write(tmp_path / "in")),
                 "--output", str(tmp_path / "out" / "nested"))  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "out" / "nested").iterdir()) == [
        "adqs.csv", "compliance.csv", "endpoint_summary.csv", "responders.csv"]  # fmt: skip


def test_as_of_option_reaches_compliance(tmp_path):
    call_command("compute_endpoints", "--input", str(good_files().write(tmp_path / "in")),
                 "--output", str(tmp_path / "out"), "--as-of", "2026-01-06")  # fmt: skip
    assert "S1,RUNIN,2,2,100\nS1,VC,0,0,\n" in (tmp_path / "out" / "compliance.csv").read_text()


def test_refused_input_reports_every_problem_and_writes_nothing(tmp_path):
    files = good_files()
    files.diary.append("S9,ITCH_NRS,DAILY,2026-01-13,1,12,2026-01-13T20:00:00")
    stderr = io.StringIO()
    with pytest.raises(CommandError) as refusal:
        call_command("compute_endpoints", "--input", str(files.write(tmp_path / "in")),
                     "--output", str(tmp_path / "out"), stderr=stderr)  # fmt: skip
    assert refusal.value.returncode == 2
    assert stderr.getvalue().splitlines() == [
        "diary.csv: line 7: unknown subject 'S9'",
        "diary.csv: line 7: SCORE 12 out of range 0..10 for ITCH_NRS",
        "diary.csv: line 7: timestamp SUBMITTED_AT '2026-01-13T20:00:00' has no offset",
    ]
    assert not (tmp_path / "out").exists()


def test_exit_status_is_2_from_the_command_line(tmp_path):
    (tmp_path / "in").mkdir()
    result = subprocess.run(
        [sys.executable, "manage.py", "compute_endpoints", "--input", str(tmp_path / "in"), "--output",
         str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "participants.csv: line 1: missing file" in result.stderr
    assert "diary.csv: line 1: missing file" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_mix_of_randomized_and_unrandomized_participants_is_refused_listing_each(tmp_path):
    files = TrialFiles([participant("S1", arm="RUX15"), participant("S2", arm=""), participant("S3", arm="",
                        siteid="201", tz="America/Chicago", first_application="2026-01-13T02:00:00+00:00")])
    result = subprocess.run(
        [sys.executable, "manage.py", "compute_endpoints", "--input", str(files.write(tmp_path / "in")), "--output",
         str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert [line for line in result.stderr.splitlines() if line.startswith("participants.csv")] == [
        "participants.csv: line 3: ARM is empty for S2 (site 101, Day 1 2026-01-12) while other participants of "
        "the analysis set have one: randomize or exclude them",
        # 02:00 UTC on the 13th is the evening of the 12th in Chicago: Day 1 is a local date.
        "participants.csv: line 4: ARM is empty for S3 (site 201, Day 1 2026-01-12) while other participants of "
        "the analysis set have one: randomize or exclude them",
    ]
    assert not (tmp_path / "out").exists()


def test_command_ends_with_a_one_line_summary(tmp_path):
    files = TrialFiles([participant("S1", arm="RUX15"), participant("S2", arm="VEHICLE")],
                       itch("S1", {-7: 6, -6: 6, -5: 6, -4: 6, 1: 2, 9: 3}) + itch("S2", {-7: 6, 1: 5}))
    stdout = io.StringIO()
    call_command("compute_endpoints", "--input", str(files.write(tmp_path / "in")), "--output", str(tmp_path / "o"),
                 stdout=stdout)  # fmt: skip
    # The latest diary date is Day 9: the 10 endpoints of Weeks 2, 4 and 8 are not yet reached.
    assert stdout.getvalue() == (f"compute_endpoints: 2 participants (RUX15 1, VEHICLE 1), 13 endpoints (10 not yet "
                                 f"reached), 4 files written to {tmp_path / 'o'}, data cut-off 2026-01-20\n")
