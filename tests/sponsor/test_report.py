"""report.html and its PNGs in the transfer: the endpoint table per arm, three plots, stable bytes."""

import hashlib
import json
import re
from datetime import UTC, date, datetime

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
    rows = re.findall(r"<tr[^>]*><td title=\"([A-Z0-9_]+)\">[^<]*</td><td>([^<]*)</td>", html)
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


def test_the_report_states_its_context_and_methods(randomized, study, statistician, tmp_path):
    export_transfer(study=study, directory=tmp_path / "t", unblinded=True, now=NOW, as_of=date(2026, 3, 22),
                    requested_by="stat")
    html = (tmp_path / "t" / "report.html").read_text()
    context = dict(re.findall(r'<dd id="context-([a-z-]+)">([^<]*)</dd>', html))
    assert context["study"].startswith("TRUE-AD ")
    assert context["configuration-version"] == study.config_hash[:12]
    assert context["data-cut-off"] == "2026-03-22"
    assert context["generated-at"] == "2026-04-01T00:00:00+00:00"
    assert context["blinding"] == "Unblinded, requested by stat"
    assert context["analysis-set-n-per-arm"] == "3 participants; RUX15: 2, VEHICLE: 1"
    # Day 1 is 2026-03-08: by 2026-03-22 Days 2 and 7 and Week 2 are reached, Weeks 4 and 8 are not.
    assert context["not-yet-reached"] == ("ITCH_CHG_W4, ITCH_CHG_W8, ITCH_NRS4_W4, ITCH_NRS4_W8, PROMIS_CHG_W8, "
                                          "PROMIS_SD6_W4, PROMIS_SD6_W8")
    not_reached = re.findall(r'<tr class="not-reached"><td title="([A-Z0-9_]+)">[^<]*</td><td>([^<]*)</td>'
                             r'<td class="n">0</td><td colspan="\d+">not yet reached at the data cut-off</td>', html)
    assert sorted(not_reached) == sorted((e, arm) for e in context["not-yet-reached"].split(", ")
                                         for arm in ("RUX15", "VEHICLE"))
    assert "0.0</td>" not in html.split("not-reached", 1)[1].split("</tr>", 1)[0]
    methods = re.findall(r'<li><strong>([^<]+)</strong>: ([^<]+) \(<a href="definitions.md#([a-z-]+)">', html)
    assert [m[0] for m in methods] == ["Binary endpoints", "Responder difference", "Responder p-value",
                                       "Continuous endpoints", "Data cut-off"]
    assert "Newcombe" in methods[1][1] and "STRATUM" in methods[2][1] and "baseline" in methods[3][1]
    definitions = (tmp_path / "t" / "definitions.md").read_text()
    headings = {"-".join(h.lower().split()) for h in re.findall(r"^## (.+)$", definitions, re.M)}
    assert {anchor for *_, anchor in methods} <= headings  # every link lands on a heading


def test_a_blinded_report_names_no_comparison_method_and_says_blinded(trial, study, tmp_path):
    export_transfer(study=study, directory=tmp_path / "t", unblinded=False, now=NOW)
    html = (tmp_path / "t" / "report.html").read_text()
    assert "Blinded: arms are not shown" in html and "Newcombe" not in html.split("<h2>Endpoint summary")[0]


def test_responder_plot_draws_arms_at_0_and_100_percent_with_their_intervals():
    import pandas as pd

    from analysis.report import responders_figure

    summary = pd.DataFrame({"ENDPOINT": ["ITCH_NRS4_W2"] * 2, "ARM": ["RUX15", "VEHICLE"], "N": [7, 5],
                            "RESPONDERS": [7, 0]})
    figure = responders_figure(summary, ["RUX15", "VEHICLE"], ["ITCH_NRS4_W4", "ITCH_NRS4_W8"])
    axes = figure.axes[0]
    heights = [bar.get_height() for bar in axes.patches]
    assert heights[0] == 100 and heights[3] == 0  # Week 2 bars of each arm (3 weeks per arm)
    assert [t.get_text() for t in axes.texts if t.get_text() == "not yet reached"] == ["not yet reached"] * 2
