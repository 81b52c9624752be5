"""Wall time and peak memory of one shell command's whole process tree.

The peak is the largest sum of the resident set sizes of every process in the command's session,
sampled from /proc (CodeBuild and this machine are Linux), and never below the largest single
child getrusage reports (a process too short-lived to be sampled still counts).
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SAMPLE_SECONDS = 0.2
_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass(frozen=True)
class Measured:
    command: str
    returncode: int
    seconds: float
    peak_mib: float
    # What the peak was made of: (kind of process, how many, MiB), largest first.
    peak_parts: tuple[tuple[str, int, float], ...] = ()


def process_kind(comm: str, cmdline: list[str]) -> str:
    """What a process is: `python -m <module>`, a pytest-xdist worker, or its command name."""
    if "-m" in cmdline[:-1]:
        return f"{comm} -m {cmdline[cmdline.index('-m') + 1]}"
    if any("xdist" in argument for argument in cmdline):
        return "pytest-xdist worker"
    return comm


def session_rss_by_process(session_id: int) -> dict[int, tuple[str, int]]:
    """pid -> (kind, RSS in KiB) of every live process whose session is `session_id`."""
    processes = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            comm, after = Path(entry.path, "stat").read_text().rsplit(")", 1)
            stat = after.split()
            # stat after the command name: state ppid pgrp session ...
            if int(stat[3]) != session_id:
                continue
            rss = int(Path(entry.path, "statm").read_text().split()[1]) * _PAGE_KIB
            cmdline = Path(entry.path, "cmdline").read_bytes().decode(errors="replace").split("\0")
        except (OSError, IndexError, ValueError):
            continue  # the process ended between listing and reading
        processes[int(entry.name)] = (process_kind(comm.split("(", 1)[-1], cmdline), rss)
    return processes


def session_rss_kib(session_id: int) -> int:
    """Sum of the RSS of every live process whose session is `session_id`."""
    return sum(rss for _, rss in session_rss_by_process(session_id).values())


def peak_parts(processes: dict[int, tuple[str, int]], top: int = 4) -> tuple[tuple[str, int, float], ...]:
    """The `top` kinds of process by memory: (kind, count, MiB)."""
    kinds: dict[str, list[int]] = {}
    for kind, rss in processes.values():
        kinds.setdefault(kind, []).append(rss)
    ranked = sorted(kinds.items(), key=lambda item: -sum(item[1]))[:top]
    return tuple((kind, len(sizes), round(sum(sizes) / 1024, 1)) for kind, sizes in ranked)


def run_measured(
    command: str, *, cwd: Path, env: Mapping[str, str], log_path: Path | None, shell: str = "/bin/bash"
) -> Measured:
    """Run `command` with `shell -c` in its own session, sampling memory; output to `log_path`,
    or to this process's own stdout and stderr when it is None (`make test`)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.monotonic()
    with log_path.open("ab") if log_path else contextlib.nullcontext() as log:
        if log is not None:
            log.write(f"\n$ {command}\n".encode())
            log.flush()
        process = subprocess.Popen(  # noqa: S603 - the buildspec's own command, as CodeBuild runs it
            [shell, "-c", command],
            cwd=cwd,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT if log is not None else None,
            start_new_session=True,
        )
        peak = 0
        parts: tuple[tuple[str, int, float], ...] = ()
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak, parts
            while not stop.is_set():
                processes = session_rss_by_process(process.pid)
                total = sum(rss for _, rss in processes.values())
                if total > peak:
                    peak, parts = total, peak_parts(processes)
                stop.wait(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            returncode = process.wait()
        except KeyboardInterrupt:
            # Its own session does not get the terminal's Ctrl-C: pass it on, then stop.
            os.killpg(process.pid, signal.SIGINT)
            process.wait()
            raise
        finally:
            stop.set()
            sampler.join()
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    largest_child = after if after > before else 0
    return Measured(command, returncode, seconds, max(peak, largest_child) / 1024, parts)
