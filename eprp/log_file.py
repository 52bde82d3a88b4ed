"""Send a command's log lines to a file in var/log/ for a while, errors still to the terminal.

`make run` (manage.py up) and `manage.py sms_chat` print what a newcomer reads (a banner,
a conversation); the task traces, INFO lines and warnings of the code they run go to the
file they name, and an ERROR or worse is still shown where it happened.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def logging_to(path: Path, *, errors_to=None) -> Iterator[None]:
    """Root logging into `path` (appended) inside the block; ERROR and above also to `errors_to` (stderr)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    to_file = logging.FileHandler(path)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    errors = logging.StreamHandler(errors_to or sys.stderr)
    errors.setLevel(logging.ERROR)
    errors.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    saved = root.handlers[:]
    root.handlers = [to_file, errors]
    try:
        yield
    finally:
        root.handlers = saved
        to_file.close()
