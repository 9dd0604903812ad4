"""The committed golden log in ``tiles/`` is exactly what ``tools/make_golden.py`` builds.

Client and sequencer tests read ``tiles/`` as a frozen real log; this keeps it honest: a
change to the writer that alters any published byte (tile, bundle, checkpoint, covers
object) fails here until the golden log is regenerated on purpose and the change is seen
in review.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_golden_log_matches_a_rebuild() -> None:
    res = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_golden.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "tiles matches a rebuild" in res.stdout
