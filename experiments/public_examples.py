"""Run the public Helion example files against this package: "N of 48 pass".

Each ``*.py`` file of ``FOLDER`` runs in its own Python process, with this repository first on
``sys.path`` (so ``import helion`` is this package), its ``main()`` called as written (a file
without ``main`` runs as ``__main__``), under a per-file timeout. A table of pass / fail /
timeout, the seconds taken and the first line of the error follows; ``--json`` also writes it.

The folder is filled separately, from the ``examples/`` directory of the public repository
(https://github.com/pytorch/helion, e.g. ``git clone --depth 1`` it elsewhere and pass
``.../helion/examples``); no copy of those files belongs in this repository. Files whose name
starts with ``_`` and sub-folders (distributed, demo, ...) are not run.

On a machine without a GPU every kernel runs in Triton's interpreter, and the examples fix their
own (GPU-sized) inputs: most then need far longer than a sensible timeout, which the table shows
as ``timeout`` (an error that comes first still shows as ``fail``). ``--env HELION_AUTOTUNE_EFFORT=none``
skips tuning and runs each kernel's default config.

    python -m experiments.public_examples ~/src/helion/examples --timeout 600 --jobs 2
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNNER = """
import runpy, sys
path = sys.argv[1]
sys.argv = [path]
namespace = runpy.run_path(path, run_name="__helion_example__")
main = namespace.get("main")
if callable(main):
    main()
else:
    runpy.run_path(path, run_name="__main__")
"""
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Warning|Interrupt|Exit|Mismatch|Unsupported\w*)"
                             r"|[a-z_][\w]*\.[\w.]+):")


@dataclass
class Result:
    """One example file's outcome."""

    name: str
    status: str      # pass, fail, timeout
    seconds: float
    error: str       # the exception line (or the last output line) of a failure, else ""


def example_files(folder: Path, only: list[str] | None = None) -> list[Path]:
    """The example files of ``folder`` to run, by name (``only``: these stems)."""
    files = sorted(p.resolve() for p in folder.glob("*.py") if not p.name.startswith("_"))
    if only:
        wanted = set(only)
        files = [p for p in files if p.stem in wanted]
    return files


def first_error(output: str) -> str:
    """The line that names the exception in a traceback (the last such line), else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line):
            return line[:300]
    return lines[-1][:300] if lines else ""


def run_one(path: Path, timeout: float, env: dict[str, str], helion_root: Path = REPO) -> Result:
    """Run one example file's ``main()`` in a fresh process, ``helion_root`` first on its path."""
    child_env = {**os.environ, **env}
    paths = [str(helion_root), str(path.parent.parent), str(path.parent)]
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                 if p and Path(p).resolve() != REPO.resolve()]
    child_env["PYTHONPATH"] = os.pathsep.join(paths + inherited)
    start = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-c", RUNNER, str(path)], cwd=path.parent, env=child_env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        partial = (e.stderr or b"") if isinstance(e.stderr, bytes) else (e.stderr or "")
        text = partial.decode(errors="replace") if isinstance(partial, bytes) else partial
        hint = first_error(text) if "Traceback" in text else ""
        return Result(path.stem, "timeout", time.monotonic() - start, hint or f"over {timeout:.0f} s")
    seconds = time.monotonic() - start
    if done.returncode == 0:
        return Result(path.stem, "pass", seconds, "")
    error = first_error(done.stderr) or first_error(done.stdout) or f"exit status {done.returncode}"
    return Result(path.stem, "fail", seconds, error)


def table(results: list[Result]) -> str:
    """A Markdown table of the results and a count line."""
    rows = ["| example | status | s | first error |", "|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r.name} | {r.status} | {r.seconds:.1f} | {r.error.replace('|', '/')} |")
    passed = sum(r.status == "pass" for r in results)
    return "\n".join(rows) + f"\n\n{passed} of {len(results)} pass"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a folder holding the public examples/*.py files")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per file (default 300)")
    parser.add_argument("--jobs", type=int, default=1, help="files run at once (default 1: timings stay clean)")
    parser.add_argument("--only", nargs="*", help="run only these examples (file stems)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the examples (repeatable)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--helion", type=Path, default=REPO,
                        help="the folder whose helion/ package the examples import (default: this repository; "
                             "a pip --target folder of the public release runs the peer)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the examples, print the table; exit status 0 when every file passed."""
    args = parse_args(argv)
    if not args.folder.is_dir():
        print(f"{args.folder} is not a folder (fill it from the public repository's examples/)", file=sys.stderr)
        return 2
    env = dict(item.split("=", 1) for item in args.env)
    files = example_files(args.folder, args.only)
    if not files:
        print(f"no example files in {args.folder}", file=sys.stderr)
        return 2
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = {pool.submit(run_one, path, args.timeout, env, args.helion): path for path in files}
        for future in concurrent.futures.as_completed(futures):
            r = future.result()
            print(f"{r.status:>7} {r.seconds:7.1f}s {r.name} {r.error}", file=sys.stderr, flush=True)
    results = sorted((f.result() for f in futures), key=lambda r: r.name)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0 if all(r.status == "pass" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
