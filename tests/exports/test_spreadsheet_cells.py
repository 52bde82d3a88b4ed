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
