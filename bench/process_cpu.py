"""CPU time of processes read from `/proc`, for per-message CPU budgets.

`utime + stime` (fields 14 and 15 of `/proc/<pid>/stat`, in clock ticks) of each
process before and after a steady run, divided by the messages it carried.
PostgreSQL forks a backend per connection: its CPU is the postmaster's own, its
live children's, and the children that already exited (the postmaster's
`cutime + cstime`), so a pool that reconnects does not hide work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces; everything after its ")" is space-separated.
    return text[text.rindex(")") + 2 :].split()


def process_cpu_s(pid: int, *, with_exited_children: bool = False) -> float:
    """Seconds of CPU `pid` used so far (optionally plus its exited, waited-for children)."""
    fields = _stat_fields(pid)
    # After the name: field 3 is index 0, so utime (14) is 11, stime (15) 12, cutime 13, cstime 14.
    ticks = int(fields[11]) + int(fields[12])
    if with_exited_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICKS


def scheduled_cpu_s(pid: int) -> float:
    """Seconds of CPU `pid` has run so far, to the nanosecond (`/proc/<pid>/schedstat`).

    For short measurements: `process_cpu_s` counts in clock ticks (10 ms), too coarse for a
    few seconds of a process that runs a fraction of the time.
    """
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def children_of(pid: int) -> list[int]:
    """The live children of `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int(_stat_fields(int(entry.name))[1]) == pid:
                found.append(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            continue
    return found


def tree_cpu_s(pid: int) -> float:
    """CPU of a process and its children, live and exited (PostgreSQL's postmaster)."""
    total = process_cpu_s(pid, with_exited_children=True)
    for child in children_of(pid):
        try:
            total += process_cpu_s(child)
        except FileNotFoundError:
            continue  # exited between the listing and the read; counted by the parent next time
    return total


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds per named process at one moment."""

    seconds: dict[str, float]

    def per_message_ms(self, later: CpuSample, messages: int) -> dict[str, float]:
        """Milliseconds of CPU per message each process used between this sample and `later`."""
        return {
            name: (later.seconds[name] - self.seconds[name]) * 1000 / messages
            for name in self.seconds
            if name in later.seconds
        }


def postmaster_pid(data_dir: Path) -> int:
    """The postmaster of a PostgreSQL data directory."""
    return int((data_dir / "postmaster.pid").read_text().splitlines()[0])


def sample(pids: dict[str, int], trees: dict[str, int]) -> CpuSample:
    """Read every process now: `pids` on their own, `trees` with their children."""
    seconds = {name: process_cpu_s(pid) for name, pid in pids.items()}
    seconds.update({name: tree_cpu_s(pid) for name, pid in trees.items()})
    return CpuSample(seconds)


@dataclass(frozen=True)
class MachineTicks:
    """The machine's CPU time so far (`/proc/stat`'s first line), in clock ticks."""

    total: int
    steal: int

    @classmethod
    def now(cls) -> MachineTicks:
        """Read `/proc/stat` now."""
        with Path("/proc/stat").open() as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
        # counted in user and nice.
        return cls(total=sum(fields[:8]), steal=fields[7] if len(fields) > 7 else 0)

    def steal_pct(self, later: MachineTicks) -> float:
        """Share of the machine's CPU time between this reading and `later` that the hypervisor
        gave to someone else: on a shared virtual machine, the work measured ran on less CPU."""
        total = later.total - self.total
        return 100 * (later.steal - self.steal) / total if total > 0 else 0.0
