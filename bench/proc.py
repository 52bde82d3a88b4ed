"""CPU time of this machine's processes, from /proc: what the benchmarks read before and after a run."""

import os
from collections.abc import Iterator
from typing import NamedTuple

TICK = os.sysconf("SC_CLK_TCK")


class Process(NamedTuple):
    pid: int
    pgid: int
    comm: str
    cmdline: bytes
    cpu_seconds: float  # user + system so far


def processes() -> Iterator[Process]:
    """Every process still readable (one that ends while it is read is left out)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        yield Process(int(pid), int(fields[2]), stat[stat.index("(") + 1:stat.rindex(")")], cmdline,
                      (int(fields[11]) + int(fields[12])) / TICK)
