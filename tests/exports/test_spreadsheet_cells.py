"""A transfer's XLSX holds text as text: a free-text cell that starts like a formula is neutralised
(OWASP: a leading "'"), a number column keeps its numbers, negative ones included."""

import openpyxl
import pytest

from analysis import export


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_no_formula_cell_in_the_xlsx(tmp_path, start):
    (tmp_path / "sites.csv").write_text(
        "SITEID,SITENAME,DELTA\n"
        f'101,"{start}HYPERLINK(""http://x.example"",""open"")",-3\n'
        "102,Lakeside Dermatology,4\n", encoding="utf-8")
    export._write_tables(tmp_path, ["xlsx"])
    sheet = openpyxl.load_workbook(tmp_path / "sites.xlsx").active
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][1][0] == "'" and rows[1][1][2:] == 'HYPERLINK("http://x.example","open")'  # CR reads as LF
    assert rows[2][1] == "Lakeside Dermatology"
    assert [rows[1][2], rows[2][2]] == [-3, 4]  # a number column is never touched


def test_csv_text_cells_are_neutralised_and_numbers_never():
    import pandas as pd

    from analysis.transfer import render_csv

    frame = pd.DataFrame({"USUBJID": ["A-1", "A-2", "A-3"], "LABEL": ["=1+2", "@SUM(A1)", "plain"],
                          "DELTA": [-3, 4, -1.5]})
    text = render_csv(frame, ["USUBJID", "LABEL", "DELTA"], ["USUBJID"])
    assert text.splitlines() == ["USUBJID,LABEL,DELTA", "A-1,'=1+2,-3", "A-2,'@SUM(A1),4", "A-3,plain,-1.5"]
