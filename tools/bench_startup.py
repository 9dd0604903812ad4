"""Benchmark: how long ``tlog --help`` takes, and what a folder-log command imports.

Usage: python tools/bench_startup.py [--runs 30]

Runs ``tlog --help`` (the console script's code: ``from tlog.cli import main; main()``)
``--runs`` times in fresh interpreters of this Python, with this checkout first on the
path, and prints the wall time's min and median. The runs use compiled bytecode, as an
installed tlog does (``tools/as_installed.py``); an untimed run comes first. For scale it
times the bare interpreter the same way (``python -c pass``: the floor any command pays)
and ``import click``.

Twice: in this environment as it is, and as installed (``python -S``, this Python's
site-packages on the path): without the ``.pth`` files of this environment's
site-packages, which every Python program here runs at start-up and an installed tlog
does not bring (here: the editable install's finder, about 15 ms, and a sandbox's
certificate set-up importing ``certifi``, another 15). ``-S`` also skips ``site`` itself,
which a console script runs: about 2 ms in a bare venv, so that figure is that much low.
Then it runs ``tlog loginfo`` on a fresh folder log and says whether boto3 or requests
was imported.

Target (issue 14): ``tlog --help`` ≤ 60 ms; no boto3 for folder logs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from as_installed import compiled_env

ROOT = Path(__file__).resolve().parents[1]
TLOG = "import sys; from tlog.cli import main; sys.exit(main())"
#: Runs ``tlog ARGS`` and prints which of these top-level packages it imported.
PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: print(sorted({m.split('.')[0] for m in sys.modules}"
    " & {'boto3', 'botocore', 'requests', 'urllib3', 'yaml'}), file=sys.stderr))\n" + TLOG
)


#: The runs' environment (:func:`as_installed.compiled_env`); set by :func:`main`.
ENV: list[dict[str, str]] = []


def _env() -> dict[str, str]:
    return ENV[0]


def _installed() -> dict[str, str]:
    """:func:`_env` for ``python -S``: this checkout and this Python's site-packages on
    the path, no ``.pth`` file run."""
    paths = sysconfig.get_paths()
    site = dict.fromkeys([str(ROOT), paths["purelib"], paths["platlib"]])
    return {**_env(), "PYTHONPATH": os.pathsep.join(site)}


def timed(args: list[str], runs: int, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(min, median) wall seconds of ``python args`` over ``runs`` runs."""
    env = env or _env()
    times = []
    subprocess.run(
        [sys.executable, *args], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL
    )
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, *args], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL
        )
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def folder_imports() -> str:
    """The network packages ``tlog loginfo`` on a folder log imports."""

    def tlog(*args: str, code: str = TLOG) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code, *args],
            env=_env(),
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        return done.stderr.decode()

    with tempfile.TemporaryDirectory() as tmp:
        keys, log = f"{tmp}/keys", f"{tmp}/log"
        origin = ["--origin", "bench.example/log"]
        tlog("keygen", *origin, "--out", keys)
        tlog("init", "--log", log, *origin, "--key", f"{keys}/log.key")
        vkey = ["--vkey", f"{keys}/log.vkey", "--state-dir", tmp, "--cache-dir", tmp]
        return tlog("loginfo", "--log", log, *vkey, code=PROBE).strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores")
    ENV[:] = [compiled_env()]
    _run_all(args.runs)


def _run_all(runs: int) -> None:
    for how, flags, env in [("here", [], _env()), ("installed", ["-S"], _installed())]:
        for name, argv in [
            ("python -c pass", ["-c", "pass"]),
            ("import click", ["-c", "import click"]),
            ("tlog --help", ["-c", TLOG, "--help"]),
        ]:
            low, mid = timed([*flags, *argv], runs, env)
            print(
                f"{how:9} {name:16} min {low * 1e3:6.1f} ms  median {mid * 1e3:6.1f} ms  "
                f"({runs} runs)"
            )
    print(f"tlog loginfo on a folder log imports: {folder_imports()}")


if __name__ == "__main__":
    main()
