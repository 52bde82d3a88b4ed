"""Which way the imports point (DESIGN.md, "Layout"), read from the source with `ast`.

- The diaries core (everything in diaries/ but the channels in diaries/patient/ and
  diaries/staff/, and apps.py, which wires the app) imports no channel code: not notifications, analysis, eprp, nor the
  patient or staff packages. Channels call the core; the core calls no channel.
- Pure rules (diaries/protocol/, notifications/chatbot/, the analysis computations)
  import no ORM and no Django: only the standard library, third-party libraries and
  other pure modules of the project.
- Twilio's SDK is imported only under notifications/providers/twilio/.
- No function-local import of the project's own modules (the way to hide a cycle), but
  in an app's apps.py: it is imported before the models exist, so its ready() and
  post_migrate handlers import what they register.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ("diaries", "notifications", "analysis", "eprp")

CHANNELS = ("diaries/patient/", "diaries/staff/")
NOT_FOR_THE_CORE = ("notifications", "analysis", "eprp", "diaries.patient", "diaries.staff")
PURE = (
    "diaries/protocol/",
    "notifications/chatbot/",
    "analysis/adqs.py",
    "analysis/compliance.py",
    "analysis/derived.py",
    "analysis/endpoints.py",
    "analysis/inputs.py",
    "analysis/scoring.py",
    "analysis/stats.py",
    "analysis/longterm.py",
    "analysis/transfer.py",
    "analysis/report.py",
    "diaries/errors.py",  # the error family the rules raise
)
TWILIO_HOME = "notifications/providers/twilio/"

# Known violations, each "rule path imported-module"; the list only shrinks, and is empty: a new
# violation is fixed in the structure, not listed here.
ALLOWED: set[str] = set()


def _module_name(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def _resolve(path: str, node: ast.ImportFrom) -> list[str]:
    """The absolute module names an ImportFrom brings in (`from . import a` brings in package.a)."""
    if node.level:
        package = _module_name(path).split(".")
        if not path.endswith("__init__.py"):
            package = package[:-1]
        base = ".".join(package[: len(package) - node.level + 1])
        module = f"{base}.{node.module}" if node.module else base
    else:
        module = node.module or ""
    # `from package import name` names the module package.name when there is one (or the
    # package does not exist yet); otherwise the name is defined in the module it comes from.
    folder = ROOT / module.replace(".", "/")
    out = []
    for alias in node.names:
        submodule = (folder / f"{alias.name}.py").exists() or (folder / alias.name).is_dir()
        unknown = module.split(".")[0] in APPS and not folder.is_dir() and not folder.with_suffix(".py").exists()
        out.append(f"{module}.{alias.name}" if node.module is None or submodule or unknown else module)
    return out


def imports(path: str, source: str) -> list[tuple[str, int, bool, str]]:
    """(module, line, function-local, function name) for every import of a module."""
    tree = ast.parse(source, path)
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, function is not None, function or "") for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                found.extend((m, child.lineno, function is not None, function or "") for m in _resolve(path, child))
            visit(child, inner)

    visit(tree, None)
    return found


def _is_project(module: str) -> bool:
    return module.split(".")[0] in APPS


def _is_pure(module: str) -> bool:
    """A project module listed as pure (a package or a file of PURE)."""
    as_path = module.replace(".", "/")
    return any(
        as_path + "/" == p or as_path.startswith(p) or as_path + ".py" == p or (as_path + "/").startswith(p)
        for p in PURE
    )


def _within(path: str, prefixes) -> bool:
    return any(path == p or path.startswith(p) for p in prefixes)


def violations(path: str, source: str) -> list[str]:
    """Every broken rule of one module, as "rule path module" (line numbers change too often)."""
    out = []
    # An app's apps.py is where it is wired together (hooks registered, the staff pages loaded).
    core = path.startswith("diaries/") and not _within(path, CHANNELS) and not path.endswith("/apps.py")
    pure = _within(path, PURE)
    for module, _line, local, _function in imports(path, source):
        top = module.split(".")[0]
        if core and any(module == m or module.startswith(m + ".") for m in NOT_FOR_THE_CORE):
            out.append(f"core-imports-channel {path} {module}")
        if pure and (top == "django" or (_is_project(module) and not _is_pure(module))):
            out.append(f"pure-imports-orm {path} {module}")
        if top == "twilio" and not path.startswith(TWILIO_HOME):
            out.append(f"twilio-outside-provider {path} {module}")
        if local and _is_project(module) and not path.endswith("/apps.py"):
            out.append(f"function-local-import {path} {module}")
    return out


def all_violations() -> set[str]:
    found = set()
    for app in APPS:
        for file in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in file.parts:
                continue
            path = file.relative_to(ROOT).as_posix()
            found.update(violations(path, file.read_text(encoding="utf-8")))
    return found


def test_the_check_reads_each_rule():
    assert violations("diaries/diary.py", "from notifications import models\n") == [
        "core-imports-channel diaries/diary.py notifications.models"]
    assert violations("diaries/patient/web/views.py", "from notifications import models\n") == []
    assert violations("diaries/diary.py", "from .patient.web import links\n") == [
        "core-imports-channel diaries/diary.py diaries.patient.web.links"]
    assert violations("diaries/protocol/windows.py", "from django.db import models\n") == [
        "pure-imports-orm diaries/protocol/windows.py django.db"]
    assert violations("diaries/protocol/windows.py", "from ..models import Participant\n") == [
        "pure-imports-orm diaries/protocol/windows.py diaries.models"]
    assert violations("diaries/protocol/windows.py", "from . import cycles\nimport numpy\n") == []
    assert violations("notifications/chatbot/machine.py", "from diaries.protocol import study_config\n") == []
    assert violations("eprp/simulation.py", "from twilio.request_validator import RequestValidator\n") == [
        "twilio-outside-provider eprp/simulation.py twilio.request_validator"]
    assert violations("notifications/providers/twilio/webhooks.py", "from twilio.twiml import x\n") == []
    assert violations("diaries/staff/views.py", "def f():\n    from notifications import models\n") == [
        "function-local-import diaries/staff/views.py notifications.models"]
    assert violations("diaries/apps.py", "class C:\n    def ready(self):\n        from . import checks\n") == []
    assert violations("diaries/staff/views.py", "def f():\n    from zoneinfo import ZoneInfo\n") == []


def test_imports_point_one_way():
    found = all_violations()
    new = sorted(found - ALLOWED)
    assert not new, "imports against the layering rules:\n" + "\n".join(new)
    # Fixed ones leave the allow-list, so it can only shrink.
    gone = sorted(ALLOWED - found)
    assert not gone, "no longer violated, remove from ALLOWED:\n" + "\n".join(gone)
