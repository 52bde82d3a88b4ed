"""No row lock over a join without `of=`: it would lock the study and site rows too.

`select_for_update()` in a query chain with `select_related(...)` locks a row of every
joined table on PostgreSQL. Over a participant's site and study, that made every
participant's write wait for every other's and deadlocked with the foreign-key checks
of concurrent commits (tests/diaries/test_row_locks_postgres.py). Name the tables to
lock: `select_for_update(of=("self",))`.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ("diaries", "notifications", "analysis", "eprp")


def _chain(node: ast.AST) -> list[ast.Call]:
    """The calls of a method chain such as Model.objects.a().b().c(), outermost first."""
    calls = []
    while isinstance(node, ast.Call | ast.Attribute):
        if isinstance(node, ast.Call):
            calls.append(node)
            node = node.func
        else:
            node = node.value
    return calls


def _name(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else ""


def unscoped_locks_over_joins(source: str, filename: str = "<source>") -> list[int]:
    """Line numbers of select_for_update() without of= in a chain that also has select_related."""
    lines = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call) or _name(node) == "":
            continue
        calls = _chain(node)
        if calls[0] is not node:
            continue
        names = [_name(c) for c in calls]
        if "select_related" not in names:
            continue
        for call in calls:
            if _name(call) == "select_for_update" and not any(k.arg == "of" for k in call.keywords):
                lines.append(call.lineno)
    return sorted(set(lines))


def test_the_check_finds_a_lock_over_a_join():
    assert unscoped_locks_over_joins(
        "P.objects.select_for_update().select_related('site', 'study').get(pk=1)") == [1]
    assert unscoped_locks_over_joins(
        "P.objects.select_related('study').filter(x=1).select_for_update(nowait=True).first()") == [1]
    assert unscoped_locks_over_joins(
        "P.objects.select_for_update(of=('self',)).select_related('site').get(pk=1)") == []
    assert unscoped_locks_over_joins("P.objects.select_for_update().filter(pk=1).first()") == []


def test_no_row_lock_in_the_code_covers_a_join_without_of():
    found = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for line in unscoped_locks_over_joins(path.read_text(encoding="utf-8"), str(path)):
                found.append(f"{path.relative_to(ROOT)}:{line}")
    assert not found, f"select_for_update() over select_related() without of=: {found}"
