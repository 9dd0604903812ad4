"""How a benchmark runs tlog in a fresh process: from compiled bytecode, as installed.

``pip install`` compiles a package's modules, so an installed ``tlog`` never compiles
its own source at start-up. An environment with ``PYTHONDONTWRITEBYTECODE`` (this
project's sandboxes) writes no ``__pycache__``, and a checkout's ``tlog`` run there
compiles every module it imports on every run: about 0.1 s of CPU per process (the
``tlog`` command, and each child it starts: the file maker, the index and audit
workers), which a figure of a whole command would count and an installed tlog never
pays. :func:`compiled_env` compiles the checkout's ``tlog`` into its ``__pycache__``
directories (ignored by git), where every later run reads it, as it reads the standard
library's and the installed packages' (a ``PYTHONPYCACHEPREFIX`` would not do: under
one, every module's bytecode is looked for there, and the first timed run would
compile the standard library too).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["compiled_env"]

#: The checkout whose ``tlog`` the benchmarks run.
ROOT = Path(__file__).resolve().parents[1]


def compiled_env(env: Mapping[str, str] | None = None, root: Path = ROOT) -> dict[str, str]:
    """``env`` (default: this process's) with the checkout ``root`` first on
    ``PYTHONPATH``, its ``tlog`` compiled now (unchanged modules are not compiled
    again: the bytecode records its source's size and time)."""
    out = dict(os.environ if env is None else env)
    out["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [out.get("PYTHONPATH")])])
    done = subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(root / "tlog")],
        env=out,
        capture_output=True,
        text=True,
    )
    if done.returncode:  # e.g. a read-only checkout: measured, but say what it costs
        said = (done.stdout + done.stderr).strip().splitlines()
        print(
            f"warning: could not compile {root / 'tlog'} ({said[-1] if said else 'no reason'});"
            " its runs compile their modules as they import them (about 0.1 s per process)",
            file=sys.stderr,
        )
    return out
