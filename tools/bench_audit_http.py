"""Benchmark: ``tlog audit`` over HTTP, with a round-trip delay on every request.

Usage: python tools/bench_audit_http.py [--size 1000000] [--latency 0.02]
       [--parallel 1,16] [--dir DIR] [--tlog-root CHECKOUT] [--go-audit BINARY]

Builds (or, with ``--dir``, reuses) a folder log of ``--size`` raw entries of
``--entry-bytes`` bytes with the sequencer (search index on, as ``tlog sequence``
writes it), serves its public objects on 127.0.0.1 with :mod:`tlog.serve` (Range reads
included) after sleeping ``--latency`` seconds in each request's own thread (so requests
in flight overlap, as on a real network), and runs the ``tlog audit`` command against
it once per ``--parallel`` value, each in a fresh process. For each run it prints the
entries per second (size / wall time of the whole command), the GETs the server
answered, the wall time and the process's peak RSS; then the same for a scan of every
entry through the verifying client's tile reader (whose memory is bounded).

``--parallel 0`` runs the command without the option (the checkout's default), for a
checkout from before the option existed: ``--tlog-root`` runs the command from another
checkout (its ``tlog`` package first on the path), so one run compares before and after.
``--go-audit BINARY`` also times a reference audit built elsewhere (e.g. with
``golang.org/x/mod/sumdb/tlog``), run as ``BINARY -p N URL SIZE ROOT_BASE64`` for each
``--parallel`` value N (GETs in flight; at least 1), against the same server in the
same run.

With ``--go-audit``, the last lines compare: each ``tlog audit`` run's wall time against
the reference at ``-p 16`` (``--parallel`` should include 16) and at its own ``-p``
(``--parallel 0`` is the default: 64 over HTTP).

Target (issue 14): audit and scans fetch with bounded concurrency, ≥ 1.5× Go's audit
over the same server (Go at ``-p 16``, the issue's example); memory bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from as_installed import compiled_env  # noqa: E402

from tlog.admission import Candidate  # noqa: E402
from tlog.checkpoint import Checkpoint  # noqa: E402
from tlog.keys import generate  # noqa: E402
from tlog.sequencer import Sequencer  # noqa: E402
from tlog.serve import base_url, folder_reader, make_server  # noqa: E402
from tlog.storage.folder import FolderStore  # noqa: E402

ORIGIN = "bench.example/audit"
#: Reads every entry of the log through the verifying client's tile reader (its scan,
#: or, in a checkout without one, ``entries(k)`` bundle by bundle) and prints the count.
SCAN = """
import sys
from tlog.client import open_log
c = open_log(sys.argv[1], [sys.argv[2]], state_dir=sys.argv[3], cache=False)
r = c.reader
if hasattr(r, "scan"):
    print(sum(len(e) for _, _, e in r.scan()))
else:
    print(sum(len(r.entries(k)) for k in range(-(-c.size // 256))))
"""
T0 = 1_767_225_600
#: ``tlog audit``'s default --parallel over HTTP (tlog.fetch.readahead.PARALLEL_HTTP).
DEFAULT_HTTP = 64
BATCH = 100_000


def build(root: Path, size: int, entry_bytes: int) -> None:
    """A folder log of ``size`` raw entries at ``root/log``, keys in ``root/keys``;
    kept if it is already there at that size."""
    log, keys = root / "log", root / "keys"
    if (log / "checkpoint").exists():
        if latest(log).size == size:
            return
        raise SystemExit(f"{log} holds a log of another size than {size}: use another --dir")
    keys.mkdir(parents=True, exist_ok=True)
    made = generate(ORIGIN)
    (keys / "log.vkey").write_text("".join(v + "\n" for v in made.keys.vkeys()))
    seq = Sequencer(FolderStore(log), made.keys, clock=lambda: T0)
    seq.init()
    pad = b"x" * max(0, entry_bytes - 22)
    start = time.perf_counter()
    for first in range(0, size, BATCH):
        n = min(BATCH, size - first)
        seq.sequence([Candidate("", b"%020d " % i + pad + b"\n") for i in range(first, first + n)])
    print(f"built {size:,} entries in {time.perf_counter() - start:.1f}s at {log}", flush=True)


def latest(log: Path) -> Checkpoint:
    """The body of the folder log's checkpoint (the benchmark trusts its own log)."""
    return Checkpoint.parse((log / "checkpoint").read_text().split("\n\n")[0] + "\n")


class SlowServer:
    """The folder log's public objects on 127.0.0.1, each answer delayed; counts GETs."""

    def __init__(self, log: Path, latency: float) -> None:
        self.read = folder_reader(log)
        self.latency = latency
        self.gets = 0
        self.lock = threading.Lock()
        self.httpd = make_server(self)
        self.httpd.daemon_threads = True
        # http.server listens with a backlog of 5: 16 connections at once would see
        # SYNs dropped and retried a second later, as no CDN does.
        self.httpd.socket.listen(128)
        self.url = base_url(self.httpd)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def _delay(self) -> None:
        with self.lock:
            self.gets += 1
        time.sleep(self.latency)

    def __call__(self, key: str) -> bytes:
        self._delay()
        return self.read(key)

    def span(self, key: str, start: int, length: int) -> tuple[bytes, int | None]:
        self._delay()
        return self.read.span(key, start, length)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str, str]:
    """(wall seconds, "peak RSS and CPU", stdout) of one process.

    The peak RSS is the process's own high-water mark (``VmHWM`` of /proc/PID/status,
    read every 10 ms until it exits): ``ru_maxrss`` would count this benchmark's own
    memory, which a forked child starts with. Its child processes (the audit's workers)
    are shown apart: the sum of their peaks. The CPU is the process's and its children's
    (``wait4``)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, text=True)
    peaks: dict[int, int] = {}

    def watch() -> None:
        while proc.returncode is None:
            try:
                kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            except OSError:
                return
            for pid in [proc.pid, *map(int, kids)]:
                peaks[pid] = max(peaks.get(pid, 0), _hwm(pid))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {out[-500:]}")
    cpu = usage.ru_utime + usage.ru_stime
    main, kids = peaks.pop(proc.pid, 0), sum(peaks.values())
    workers = f" (+ {kids / 1024:.0f} MiB in {len(peaks)} workers)" if peaks else ""
    return wall, f"peak RSS {main / 1024:.0f} MiB{workers}, CPU {cpu:.1f}s", out


def _hwm(pid: int) -> int:
    """The VmHWM of a process, in KiB (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def reference(
    args: argparse.Namespace,
    root: Path,
    server: SlowServer,
    env: dict[str, str],
    tlog_root: Path,
    walls: dict[int, float],
) -> None:
    """Time the reference audit at each --parallel, and compare tlog's ``walls``."""
    go: dict[int, float] = {}
    for parallel in [int(p) for p in args.parallel.split(",")] if args.go_audit else []:
        cp = latest(root / "log")
        server.gets = 0
        p = parallel or DEFAULT_HTTP
        argv = [str(args.go_audit), "-p", str(p), server.url, str(cp.size)]
        wall, usage, _ = run([*argv, cp.format().split("\n")[2]], env, tlog_root)
        go[p] = wall
        print(
            f"reference audit -p {p}: {args.size / wall:,.0f} entries/s, "
            f"{server.gets:,} GETs, {wall:.2f}s wall, {usage}"
        )
    for parallel, wall in walls.items() if go else []:
        p = parallel or DEFAULT_HTTP
        against = [f"{go[16] / wall:.2f}x reference -p 16"] if 16 in go else []
        against += [f"{go[p] / wall:.2f}x reference -p {p}"] if p in go and p != 16 else []
        print(f"tlog audit --parallel {parallel or 'default'}: " + ", ".join(against))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--entry-bytes", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request")
    parser.add_argument("--parallel", default="1,16", help="comma-separated; 0: no option")
    parser.add_argument("--dir", type=Path, help="build the log here, or reuse it")
    parser.add_argument("--tlog-root", type=Path, default=ROOT, help="checkout to run")
    parser.add_argument("--go-audit", type=Path, help="a reference audit program")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="tlog-audit-http-"))
    build(root, args.size, args.entry_bytes)
    server = SlowServer(root / "log", args.latency)
    tlog_root = args.tlog_root.resolve()
    env = compiled_env(root=tlog_root)  # as installed (tools/as_installed.py)
    print(
        f"load: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores; {args.size:,} "
        f"entries, {args.latency * 1000:.0f} ms per request; tlog from {tlog_root}"
    )
    walls: dict[int, float] = {}
    try:
        for parallel in [int(p) for p in args.parallel.split(",")]:
            state = tempfile.mkdtemp(prefix="tlog-audit-state-")
            argv = [sys.executable, "-c", "import sys; from tlog.cli import main; sys.exit(main())"]
            argv += ["audit", "--log", server.url, "--vkey", str(root / "keys" / "log.vkey")]
            argv += ["--state-dir", state, "--format", "json"]
            argv += ["--parallel", str(parallel)] if parallel else []
            server.gets = 0
            wall, usage, out = run(argv, env, tlog_root)
            report = json.loads(out)
            assert report["treeSize"] == args.size, report
            walls[parallel] = wall
            print(
                f"tlog audit --parallel {parallel or 'default'}: {args.size / wall:,.0f} "
                f"entries/s, {server.gets:,} GETs, {wall:.2f}s wall, {usage}"
            )
        state = tempfile.mkdtemp(prefix="tlog-scan-state-")
        server.gets = 0
        argv = [sys.executable, "-c", SCAN, server.url, str(root / "keys" / "log.vkey"), state]
        wall, usage, out = run(argv, env, tlog_root)
        assert int(out) == args.size, out
        print(
            f"scan of every entry (TileReader): {args.size / wall:,.0f} entries/s, "
            f"{server.gets:,} GETs, {wall:.2f}s wall, {usage}"
        )
        reference(args, root, server, env, tlog_root, walls)
    finally:
        server.close()


if __name__ == "__main__":
    main()
