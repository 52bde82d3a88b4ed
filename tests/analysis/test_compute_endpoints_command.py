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
