"""report.html and its PNGs in the transfer: the endpoint table per arm, three plots, stable bytes."""

import hashlib
import json
import re
from datetime import UTC, datetime

import pytest

from analysis.export import export_transfer
from analysis.report import PLOT_ITCH, PLOT_PROMIS, PLOT_RESPONDERS

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 4, 1, tzinfo=UTC)
PLOTS = (PLOT_ITCH, PLOT_RESPONDERS, PLOT_PROMIS)


def test_blinded_report_has_the_table_for_one_group_and_the_plots(trial, study, tmp_path):
    manifest = export_transfer(study=study, directory=tmp_path / "t", unblinded=False, now=NOW)
    html = (tmp_path / "t" / "report.html").read_text()
    names = {f["name"] for f in manifest["files"]}
    assert {"report.html", *PLOTS} <= names
    assert '<table id="endpoint-summary">' in html and "<script" not in html.lower()
    rows = re.findall(r"<tr><td title=\"([A-Z0-9_]+)\">[^<]*</td><td>([^<]*)</td>", html)
    assert {arm for _, arm in rows} == {"ALL"}
    assert {endpoint for endpoint, _ in rows} >= {"ITCH_CHG_H12", "ITCH_NRS4_W2", "ITCH_NRS4_W8", "PROMIS_SD6_W8"}
    for plot in PLOTS:
        assert f'<img src="{plot}"' in html
        assert (tmp_path / "t" / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Blinded" in html


def test_unblinded_report_has_a_row_per_arm_with_differences_cis_and_p_values(randomized, study, tmp_path):
    export_transfer(study=study, directory=tmp_path / "t", unblinded=True, now=NOW)
    html = (tmp_path / "t" / "report.html").read_text()
    rux = re.search(r'<tr><td title="ITCH_NRS4_W2">[^<]*</td><td>RUX15</td>(.*?)</tr>', html).group(1)
    n, responders, pct, mean, sd, ref, diff, ci, p = re.findall(r"<td[^>]*>([^<]*)</td>", rux)
    assert (n, responders, pct, ref, diff) == ("2", "1", "50.0", "VEHICLE", "50.00")  # alice yes, dave no; carol no
    assert " to " in ci and re.fullmatch(r"0\.\d{4}", p)
    change = re.search(r'<tr><td title="ITCH_CHG_W2">[^<]*</td><td>RUX15</td>(.*?)</tr>', html).group(1)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", change)[3:5] == ["-4.00", "1.41"]  # -5 and -3
    vehicle = re.search(r'<tr><td title="ITCH_NRS4_W2">[^<]*</td><td>VEHICLE</td>(.*?)</tr>', html).group(1)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", vehicle)[5:] == ["", "", "", ""]


def test_the_report_bytes_depend_only_on_the_data(trial, study, tmp_path):
    first = export_transfer(study=study, directory=tmp_path / "a", unblinded=False, now=NOW)
    second = export_transfer(study=study, directory=tmp_path / "b", unblinded=False, now=NOW)
    digest = {f["name"]: f["sha256"] for f in first["files"]}
    for f in second["files"]:
        if f["name"] in ("report.html", *PLOTS):
            assert digest[f["name"]] == f["sha256"], f["name"]
    png = (tmp_path / "a" / PLOT_ITCH).read_bytes()
    assert b"Software" not in png and b"tIME" not in png
    assert hashlib.sha256(png).hexdigest() == digest[PLOT_ITCH]
    assert json.dumps(first["files"]) == json.dumps(second["files"])
