"""One measurement side in its own Python process, with a wall-clock limit that ends its children too.

The GPU scripts run each side (our tuner, the public release, torch.compile) in a new process, so
no pool, cache or compiled binary of one side helps another. :func:`run_child` starts the process
in a new session; past ``timeout_s`` the whole process group is killed (compile workers and
benchmark workers included, so none keeps the GPU busy for the next side).
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ChildRun:
    """What a child process left: its exit status (None when killed at the limit), its output
    (stdout and stderr together) and its wall seconds."""

    returncode: int | None
    log: str
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def run_child(command: list[str], env: dict[str, str], timeout_s: float, cwd: str | Path | None = None) -> ChildRun:
    """Runs ``command`` with ``env``; output goes to a temporary file (no pipe to fill up)."""
    started = time.perf_counter()
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"child-{os.getpid()}-{time.monotonic_ns()}.log"
    with open(log_path, "w+b") as log_file:
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            returncode: int | None = proc.wait(timeout=max(timeout_s, 0.1))
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            returncode = None
        log_file.seek(0)
        log = log_file.read().decode(errors="replace")
    log_path.unlink(missing_ok=True)
    return ChildRun(returncode, log, time.perf_counter() - started)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the child leads its own session: only its group
    except ProcessLookupError:
        pass
    proc.wait()
