"""Parts as plugins: the import graph keeps the core below its parts and has no cycles, and
a node loads only the parts its config enables."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fieldkit.errors import ConfigError
from fieldkit.parts import Part, installed_parts

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("fieldkit", "drone", "sync", "tui", "sensors", "demo")
PART_PACKAGES = ("drone", "sync", "tui", "sensors", "demo")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(tree: ast.AST, known: dict[str, Path]) -> set[str]:
    """The modules of ours that ``tree`` imports when it runs (``if TYPE_CHECKING:``
    blocks only serve the type checker)."""
    out: set[str] = set()

    def own(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            return
        if isinstance(node, ast.Import):
            out.update(m for a in node.names if (m := own(a.name)))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                target = full if full in known else own(node.module)
                if target:
                    out.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(ast.parse(path.read_text(encoding="utf-8")), known) - {name}
            for name, path in known.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                found.append(sorted([v, *component]))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_core_imports_no_part():
    """Nothing in fieldkit/ (the parts that live there, cameras, hardware and hq, included)
    imports the packages above it."""
    graph = _graph()
    core = [m for m in graph if m.split(".")[0] == "fieldkit"]
    upward = {(m, t) for m in core for t in graph[m] if t.split(".")[0] in PART_PACKAGES}
    assert upward == set()


def test_nothing_imports_the_demo():
    """The demo sits above every part; `fieldkit demo` reaches it through its entry point."""
    graph = _graph()
    assert {(m, t) for m, targets in graph.items() if m.split(".")[0] != "demo"
            for t in targets if t.split(".")[0] == "demo"} == set()


def test_the_graph_sees_an_import_made_on_use():
    """An import inside a function counts: importing a part late is still importing it."""
    tree = ast.parse("def f():\n    from drone.demo import DemoDrone\n")
    assert _imports(tree, _modules()) == {"drone.demo"}


def test_the_cycle_finder_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_part_is_installed_with_its_section():
    parts = {p.name: p for p in installed_parts()}
    assert set(parts) >= {"cameras", "drones", "webrtc", "hardware", "sync", "hq", "sensors",
                          "console", "demo"}
    for name, part in parts.items():
        assert isinstance(part, Part)
        if part.section is not None:
            assert part.section.__doc__, f"{name}: its section documents itself"


def test_a_default_node_loads_no_heavy_part(node_dir):
    """Issue 13 item 2: no aiortc, av, pymavlink, cv2 or torch unless a part needs them.
    The webrtc part is on by default, but with no publisher no session can open: it
    refuses offers without loading the WebRTC stack."""
    code = textwrap.dedent(f"""
        import asyncio, sys
        from pathlib import Path
        import aiohttp
        from fieldkit.config import load_config
        from fieldkit.node import Node

        async def main():
            config = load_config(Path({str(node_dir)!r}))
            config = config.model_copy(update={{"api": config.api.model_copy(
                update={{"port": 0}})}})
            node = Node(config)
            await node.start()
            try:
                async with aiohttp.ClientSession(node.url) as http:
                    async with http.post("/whip", data="v=0", headers={{
                            "Content-Type": "application/sdp",
                            "Authorization": "Bearer not-a-pilot-token-000"}}) as resp:
                        print(resp.status, (await resp.json())["error"])
                    async with http.get("/api/webrtc") as resp:
                        print(resp.status, await resp.json())
            finally:
                await node.stop()

        asyncio.run(main())
        print(sorted(m for m in ("aiortc", "av", "aioice", "pymavlink", "cv2", "torch")
                     if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert out.strip().splitlines()[-3:] == [
        "403 this token is not allowed to publish here", "200 {'sessions': []}", "[]"]


def test_a_part_that_cannot_load_is_named(monkeypatch):
    # A stand-in for the installed metadata: installing a broken distribution into the
    # shared environment would break every other test run.
    from importlib import metadata

    from fieldkit import parts

    broken = metadata.EntryPoint("ghost", "nowhere.part:PART", parts.GROUP)
    monkeypatch.setattr(parts.importlib.metadata, "entry_points",
                        lambda group: [broken] if group == parts.GROUP else [])
    parts.installed_parts.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"part 'ghost' \(nowhere\.part:PART\) cannot be "
                                              r"loaded: No module named 'nowhere'"):
            parts.installed_parts()
    finally:
        monkeypatch.undo()
        parts.installed_parts.cache_clear()
