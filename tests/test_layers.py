"""The three layers of docs/design.md, and no import cycle inside ``tlog/``.

Layers, imports only downward (docs/design.md, "Architecture"):

* **pure**: formats and maths (``merkle``, ``tile``, ``tree``, ``note``, ``vkey``, ``checkpoint``,
  ``proof``, ``sigstore``, ``offline``, ``codec``, ``layout``, ``staging``, ``errors``,
  ``entries/``): the standard library and ``cryptography`` only (``rfc8785`` in the
  canonical-JSON module, ``zstandard`` in the staging format, PyYAML and, if it is
  installed, ``pybase64`` in the monitor); no storage, no network, no CLI;
* **adapters**: storage backends, fetchers, key sources, the reader's files on disk
  (``state``, ``xdg``);
* **orchestration**: the sequencer and its admission and queue, the client, audit, the
  folder server, the CLI, and the package's public surface (``tlog``).

Checked statically (an import graph built with :mod:`ast` over every ``tlog/**/*.py``,
imports inside functions and under ``TYPE_CHECKING`` included) and at run time in a fresh
interpreter (what importing the pure and reader modules actually loads).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TLOG = ROOT / "tlog"

PURE, ADAPTER, ORCHESTRATION = 0, 1, 2
LAYER_NAMES = ("pure", "adapter", "orchestration")

#: Every module of tlog by layer; a name stands for itself and, for a package, its
#: submodules (the longest name that matches decides). A new module must be listed.
LAYERS: dict[str, int] = {
    "tlog.errors": PURE,
    "tlog.merkle": PURE,
    "tlog.tile": PURE,
    "tlog.tree": PURE,
    "tlog.note": PURE,
    "tlog.vkey": PURE,
    "tlog.checkpoint": PURE,
    "tlog.proof": PURE,
    "tlog.codec": PURE,
    "tlog.layout": PURE,
    "tlog.staging": ADAPTER,
    "tlog.entries": PURE,
    "tlog.sigstore": PURE,
    "tlog.offline": PURE,
    "tlog.policy": PURE,
    "tlog.witness": PURE,
    "tlog.witness.service": ORCHESTRATION,
    "tlog.witness.server": ORCHESTRATION,
    "tlog.witness.client": ORCHESTRATION,
    "tlog.frozen": PURE,
    "tlog.trust": PURE,
    "tlog.index": PURE,
    "tlog.index.writer": ORCHESTRATION,
    "tlog.index.rebuild": ORCHESTRATION,
    "tlog.monitor": PURE,
    "tlog.monitor.state": ADAPTER,
    "tlog.monitor.delivery": ADAPTER,
    "tlog.monitor.metrics": ADAPTER,
    "tlog.monitor.rows": ORCHESTRATION,
    "tlog.monitor.leaves": ORCHESTRATION,
    "tlog.monitor.examine": ORCHESTRATION,
    "tlog.monitor.duplicate": ORCHESTRATION,
    "tlog.monitor.scan": ORCHESTRATION,
    "tlog.monitor.vantage": ORCHESTRATION,
    "tlog.monitor.run": ORCHESTRATION,
    "tlog.storage": ADAPTER,
    "tlog.fetch": ADAPTER,
    "tlog.keys": ADAPTER,
    "tlog.kms": ADAPTER,
    "tlog.state": ADAPTER,
    "tlog.child": ADAPTER,
    "tlog.xdg": ADAPTER,
    "tlog": ORCHESTRATION,
    "tlog.sequencer": ORCHESTRATION,
    "tlog.indexer": ORCHESTRATION,
    "tlog.feed": ORCHESTRATION,
    "tlog.guess": ORCHESTRATION,
    "tlog.result": ORCHESTRATION,
    "tlog.publish": ORCHESTRATION,
    "tlog.head": ORCHESTRATION,
    "tlog.prefetch": ORCHESTRATION,
    "tlog.admission": ORCHESTRATION,
    "tlog.placement": ORCHESTRATION,
    "tlog.queue": ORCHESTRATION,
    "tlog.client": ORCHESTRATION,
    "tlog.audit": ORCHESTRATION,
    "tlog.reindex": ORCHESTRATION,
    "tlog.bundlecheck": ORCHESTRATION,
    "tlog.serve": ORCHESTRATION,
    "tlog.freeze": ORCHESTRATION,
    "tlog.server": ORCHESTRATION,
    "tlog.cli": ORCHESTRATION,
}

#: Third-party packages every pure module may import, and those one module may add.
PURE_THIRD_PARTY = {"cryptography"}
PURE_EXTRA = {
    "tlog.entries.canonical": {"rfc8785"},
    "tlog.staging": {"zstandard"},
    "tlog.monitor.config": {"yaml"},
    "tlog.monitor.hashedrekord": {"pybase64"},  # optional: base64 when installed
}

#: Standard-library modules that do network I/O or run processes: never in the pure layer.
FORBIDDEN_STDLIB = {
    "socket",
    "ssl",
    "http",
    "urllib.request",
    "asyncio",
    "selectors",
    "subprocess",
    "ftplib",
    "smtplib",
}
#: Only orchestration drives the command line.
ORCHESTRATION_ONLY = {"click"}

#: What a pure module must never load at run time, directly or through a dependency.
FORBIDDEN_AT_RUN_TIME = {
    "boto3",
    "botocore",
    "s3transfer",
    "requests",
    "httpx",
    "urllib3",
    "aiohttp",
    "ssl",
    "http.client",
    "http.server",
    "urllib.request",
    "asyncio",
    "click",
    "zstandard",
}
#: Network libraries the reader's verification logic must not load (fetchers are
#: injected). ``socket`` is not listed: the stdlib email package imports it.
NETWORK = {"requests", "urllib3", "boto3", "botocore", "http.client", "ssl"}

# --- the import graph ----------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    """One import statement's target, as written in ``source`` at ``line``."""

    source: str
    target: str
    line: int
    internal: bool


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` under ``root`` (a package by its ``__init__``)."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _resolve(name: str, known: Iterable[str]) -> str:
    """The longest known module that ``name`` is or lies inside."""
    known = set(known)
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in known:
            return ".".join(parts[:n])
    return name


def _base(node: ast.ImportFrom, module: str, path: Path) -> str:
    """The absolute module a (possibly relative) ``from … import`` names."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])


def imports_of(module: str, path: Path, known: set[str], package: str) -> list[Import]:
    """Every import in one source file, anywhere in it (functions, ``TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top = package.split(".")[0]
    found: list[Import] = []

    def add(name: str, line: int) -> None:
        internal = name.split(".")[0] == top
        target = _resolve(name, known) if internal else name
        if target != module:
            found.append(Import(module, target, line, internal))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _base(node, module, path)
            if base == "__future__":
                continue
            for alias in node.names:
                # "from tlog.x import y" imports the submodule tlog.x.y when there is one.
                sub = f"{base}.{alias.name}"
                add(sub if sub in known else base, node.lineno)
    return found


def import_graph(root: Path, package: str) -> dict[str, list[Import]]:
    """Module name -> its imports, for every module of ``package``."""
    mods = modules(root, package)
    return {m: imports_of(m, p, set(mods), package) for m, p in mods.items()}


def cycles(graph: dict[str, list[Import]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    edges = {
        m: sorted({i.target for i in imps if i.internal and i.target in graph})
        for m, imps in graph.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(m: str) -> None:
        index[m] = low[m] = len(index)
        stack.append(m)
        on_stack.add(m)
        for t in edges[m]:
            if t not in index:
                visit(t)
                low[m] = min(low[m], low[t])
            elif t in on_stack:
                low[m] = min(low[m], index[t])
        if low[m] == index[m]:
            component = []
            while True:
                t = stack.pop()
                on_stack.discard(t)
                component.append(t)
                if t == m:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for m in sorted(graph):
        if m not in index:
            visit(m)
    return sorted(found)


def describe_cycle(graph: dict[str, list[Import]], component: Sequence[str]) -> str:
    inside = set(component)
    lines = sorted(
        {
            f"  {i.source} -> {i.target} (line {i.line})"
            for m in component
            for i in graph[m]
            if i.internal and i.target in inside
        }
    )
    return "cycle among " + ", ".join(component) + ":\n" + "\n".join(lines)


def layer_of(module: str) -> int | None:
    if module == "tlog":
        return LAYERS["tlog"]
    matches = [k for k in LAYERS if k != "tlog" and (module == k or module.startswith(k + "."))]
    return LAYERS[max(matches, key=len)] if matches else None


GRAPH = import_graph(ROOT, "tlog")
PATHS = modules(ROOT, "tlog")


def _pure_modules() -> list[str]:
    return sorted(m for m in GRAPH if layer_of(m) == PURE)


# --- the graph builder sees what it must -------------------------------------------


def test_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("from . import c\n")
    (pkg / "sub" / "b.py").write_text("import pkg.sub.c\n")
    (pkg / "sub" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import f\n"
    )
    (pkg / "d.py").write_text("from pkg.sub import VALUE\nimport os.path\n")
    graph = import_graph(tmp_path, "pkg")
    targets = {m: sorted(i.target for i in imps) for m, imps in graph.items()}
    assert targets["pkg.a"] == ["pkg.sub.b"]  # inside a function; a submodule
    assert targets["pkg.sub"] == ["pkg.sub.c"]  # relative, from a package
    assert targets["pkg.sub.b"] == ["pkg.sub.c"]
    assert targets["pkg.sub.c"] == ["pkg.a", "typing"]  # TYPE_CHECKING counts
    assert targets["pkg.d"] == ["os.path", "pkg.sub"]  # a name, not a module
    assert cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.sub.c"]]


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in GRAPH if layer_of(m) is None)
    assert not unplaced, f"add these modules to LAYERS in {Path(__file__).name}: {unplaced}"


# --- the static checks over tlog/ ------------------------------------------------------


def test_no_import_cycle() -> None:
    found = cycles(GRAPH)
    assert not found, "\n".join(describe_cycle(GRAPH, c) for c in found)


def _offences(module: str, imports: Sequence[Import]) -> list[str]:
    """Each import of ``module`` that reaches above its layer or outside what it may use."""
    layer = layer_of(module)
    assert layer is not None
    where = f"{PATHS[module].relative_to(ROOT)}"
    bad = []
    for i in imports:
        top = i.target.split(".")[0]
        say = f"{where}:{i.line} ({LAYER_NAMES[layer]}) imports {i.target}"
        if i.internal:
            target_layer = layer_of(i.target)
            if target_layer is None:
                bad.append(f"{say}, which has no layer")
            elif target_layer > layer:
                bad.append(f"{say} ({LAYER_NAMES[target_layer]})")
        elif layer == PURE:
            if top in sys.stdlib_module_names:
                if {top, i.target} & FORBIDDEN_STDLIB:
                    bad.append(say)
            elif top not in PURE_THIRD_PARTY | PURE_EXTRA.get(module, set()):
                bad.append(say)
        elif layer == ADAPTER and top in ORCHESTRATION_ONLY:
            bad.append(say)
    return bad


@pytest.mark.parametrize("module", sorted(GRAPH), ids=lambda m: str(PATHS[m].relative_to(ROOT)))
def test_imports_follow_the_layers(module: str) -> None:
    assert not _offences(module, GRAPH[module])


def test_the_layer_check_refuses_upward_and_foreign_imports() -> None:
    # The check itself, against imports that would break the rules.
    for module, target, internal in [
        ("tlog.merkle", "tlog.storage.s3", True),
        ("tlog.tile", "boto3", False),
        ("tlog.note", "socket", False),
        ("tlog.merkle", "zstandard", False),
        ("tlog.keys", "tlog.sequencer", True),
        ("tlog.storage.folder", "click", False),
    ]:
        assert _offences(module, [Import(module, target, 1, internal)]), (module, target)


# --- run time: what importing actually loads -------------------------------------------


def _loaded_after(
    imports: Sequence[str], baseline: Sequence[str] = ()
) -> tuple[set[str], set[str]]:
    """sys.modules after ``baseline`` and after ``imports``, in a fresh interpreter."""
    code = (
        "import importlib, json, sys\n"
        f"for m in {list(baseline)!r}: importlib.import_module(m)\n"
        "before = sorted(sys.modules)\n"
        f"for m in {list(imports)!r}: importlib.import_module(m)\n"
        "print(json.dumps([before, sorted(sys.modules)]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    before, after = json.loads(out.stdout)
    return set(before), set(after)


def _forbidden_in(loaded: set[str], allowed: frozenset[str] = frozenset()) -> list[str]:
    forbidden = FORBIDDEN_AT_RUN_TIME - allowed
    bad = sorted(m for m in loaded if m in forbidden or m.split(".")[0] in forbidden)
    pure = set(_pure_modules()) | {"tlog"}
    bad += sorted(m for m in loaded if m.startswith("tlog.") and m not in pure)
    return bad


def test_core_modules_load_no_io() -> None:
    core = [
        m
        for m in (
            "tlog.errors",
            "tlog.merkle",
            "tlog.tile",
            "tlog.tree",
            "tlog.note",
            "tlog.checkpoint",
            "tlog.codec",
            "tlog.layout",
            "tlog.proof",
        )
        if m in GRAPH
    ]
    _, loaded = _loaded_after(core)
    assert not _forbidden_in(loaded)
    # Nothing in the core pulls in socket at all, even indirectly.
    assert "socket" not in loaded and "_socket" not in loaded


def test_all_pure_modules_load_no_io() -> None:
    # cryptography.x509 imports email.utils, which imports socket: a standard-library
    # dependency of the X.509 parser, not network use by tlog. Load the allowed
    # third-party packages first and require that tlog's pure modules add nothing
    # forbidden on top.
    baseline = ["cryptography.x509", "cryptography.hazmat.primitives.asymmetric.ec", "rfc8785"]
    pure = _pure_modules()
    before, after = _loaded_after(pure, baseline)
    assert not _forbidden_in(after)
    assert not ({"socket", "_socket", "select", "selectors"} & (after - before))


def test_staging_loads_only_zstandard_and_the_store_protocol() -> None:
    """The staging bundle's format and its life in a store: no backend, no network."""
    _, loaded = _loaded_after(["tlog.staging"])
    bad = _forbidden_in(loaded, allowed=frozenset({"zstandard"}))
    assert set(bad) <= {"tlog.staging", "tlog.storage"}


@pytest.mark.parametrize(
    "imports",
    [
        ["tlog.proof", "tlog.sigstore"],
        ["tlog.fetch.tiles", "tlog.client", "tlog.audit", "tlog.state", "tlog.fetch.cache"],
    ],
)
def test_verification_loads_no_network_code(imports: list[str]) -> None:
    # The reader's verification logic gets its fetcher injected.
    _, loaded = _loaded_after(imports)
    assert not loaded & NETWORK, sorted(loaded & NETWORK)
    assert "tlog.fetch.http" not in loaded and "tlog.storage.s3" not in loaded


def test_offline_proofs_load_only_pure_modules() -> None:
    # Verifying a tlog-proof or a Sigstore TransparencyLogEntry needs no adapter at all.
    _, loaded = _loaded_after(["tlog.proof", "tlog.sigstore"])
    ours = {m for m in loaded if m.startswith("tlog.")}
    assert ours <= set(_pure_modules()), sorted(ours)
