"""`fieldkit bench tui`: the console with N incidents, against a baseline that renders
every row (a rich Table of all rows in one scrolling Static: no virtualisation).

Both apps run headless at 160x48 against the same real node (its own thread and event
loop, on 127.0.0.1, over a fresh SQLite log of N incidents) and are measured the same way:

- first paint: from starting the app until the screen shows the top of the board (the
  console fetches the first 200 incidents, in board order, then the rest; fetching over
  HTTP included); all_loaded: until the board holds every incident. The baseline shows
  nothing until it has drawn every row, so both of its figures are the same;
- filter: from the keystroke that applies a filter (Enter in the filter form for the
  console, one key for the baseline) until the screen shows the filtered board;
- sort: from the sort keystroke until the screen shows the re-sorted board.

Each keystroke figure is the median of several presses.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import uuid6
from rich.table import Table
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import Select, Static

from fieldkit.config import Config, load_config
from fieldkit.identity import Keyring, NodeIdentity
from fieldkit.log import IncidentLog
from fieldkit.node import Node
from fieldkit.nodedir import init_node_dir
from fieldkit.store import Store
from tui._app import FieldkitApp
from tui._client import NodeClient
from tui._model import SORTS, BoardModel, Filter

SIZE = (160, 48)
PRESSES = 5
TARGETS = {"first_paint": 1.5, "all_loaded": float("inf"), "filter": 0.100, "sort": 0.100}
_KINDS = ("crowd_density", "crowd_flow", "person_down", "medical", "lost_person", "fire")


@dataclass
class TuiBenchResult:
    incidents: int
    console: dict[str, float] = field(default_factory=dict)
    """Measure -> seconds, the console."""
    baseline: dict[str, float] = field(default_factory=dict)
    """Measure -> seconds, the render-every-row baseline."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "incidents": self.incidents,
            "console_s": {k: round(v, 4) for k, v in self.console.items()},
            "baseline_s": {k: round(v, 4) for k, v in self.baseline.items()},
            "console_to_baseline": {k: round(v / self.baseline[k], 3)
                                    for k, v in self.console.items() if self.baseline.get(k)},
            "targets_s": {k: v for k, v in TARGETS.items() if v != float("inf")},
            "meets_targets": {k: v <= TARGETS[k] for k, v in self.console.items()},
        }

    def table(self) -> str:
        lines = [f"{self.incidents:,} incidents, {SIZE[0]}x{SIZE[1]}, headless",
                 f"{'measure':<14}{'console':>10}{'baseline':>10}{'ratio':>8}{'target':>9}  ok"]
        for name, seconds in self.console.items():
            base = self.baseline.get(name, 0.0)
            ratio = seconds / base if base else float("nan")
            target = TARGETS[name]
            lines.append(f"{name:<14}{seconds * 1000:>8.1f}ms{base * 1000:>8.1f}ms"
                         f"{ratio:>8.3f}" + (f"{target * 1000:>7.0f}ms  "
                         f"{'yes' if seconds <= target else 'NO'}" if target != float("inf")
                                              else f"{'-':>9}"))
        return "\n".join(lines)


def fill_log(node_dir: Path, n: int) -> None:
    """``n`` incidents with varied kind, severity, zone and position."""
    config = load_config(node_dir)
    identity = NodeIdentity.load(config.node.name, config.path(config.node.key_file))
    with Store(config.path(config.node.database)) as store:
        log = IncidentLog(store, identity, Keyring.from_names(identity, {}))
        batch: list[tuple[str, str, dict[str, Any]]] = []
        for k in range(n):
            batch.append((str(uuid6.uuid7()), "create", {
                "title": f"bench incident {k} near gate {k % 40}", "kind": _KINDS[k % 6],
                "severity": 1 + k * 7 % 5, "source": "analytics",
                "location": {"lat": 21.42 + (k % 97) / 10_000, "lon": 39.87 + (k % 89) / 10_000,
                             "zone": f"gate-{k % 40}"},
                "description": ""}))
            if len(batch) == 1000:
                log.append(batch)
                batch = []
        if batch:
            log.append(batch)


class NodeThread:
    """A real node serving on 127.0.0.1 from its own thread and event loop."""

    def __init__(self, config: Config) -> None:
        self.node = Node(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bench-node",
                                       daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.node.start(), self.loop).result(30)
        return self.node.url

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self.node.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class BaselineApp(App[None]):
    """Every row rendered: one rich Table with all incidents inside a scrolling Static."""

    BINDINGS = [  # noqa: RUF012
        Binding("f", "filter", "Filter"),
        Binding("o", "sort", "Sort"),
    ]

    def __init__(self, client: NodeClient) -> None:
        super().__init__()
        self.client = client
        self.model = BoardModel()
        self.shown = 0

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(id="all-rows")

    async def on_mount(self) -> None:
        self.model.replace_all(await self.client.incidents())
        self.draw()

    def draw(self) -> None:
        table = Table(expand=True)
        for name in ("SEV", "STATUS", "KIND", "ZONE", "TITLE"):
            table.add_column(name)
        rows = self.model.view()
        for i in rows:
            zone = (i.location or {}).get("zone", "-")
            table.add_row(str(i.severity), i.status.value, i.kind, str(zone), i.title)
        self.shown = len(rows)
        self.query_one("#all-rows", Static).update(table)

    def action_filter(self) -> None:
        self.model.filter = Filter() if self.model.filter.active else Filter(min_severity=4)
        self.draw()

    def action_sort(self) -> None:
        self.model.cycle_sort()
        self.draw()


class PaintClock:
    """Times a keystroke to the first screen update that shows its effect.

    Pilot's ``press`` waits for the CPU to be idle in 20 ms steps, which would swamp what
    is measured; instead the key event goes to the driver's queue as a terminal's would,
    and the app's display hook (which headless apps call with each compositor update)
    notes when an update is made while ``changed()`` holds. The update is also rendered
    to terminal output, as a real terminal would need.
    """

    def __init__(self, app: App[None]) -> None:
        self.app = app
        self.hits: list[float] = []
        self.changed: Callable[[], bool] = lambda: False
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is not None and self.changed():
                if hasattr(renderable, "render_segments"):
                    renderable.render_segments(app.console)
                self.hits.append(time.perf_counter())

        app._display = display  # type: ignore[method-assign]

    async def paint(self, done: Callable[[], bool]) -> float:
        """Seconds from now until a screen update made while ``done()`` holds."""
        self.hits.clear()
        self.changed = done
        started = time.perf_counter()
        while not self.hits:
            await asyncio.sleep(0.0005)
        self.changed = lambda: False
        return self.hits[0] - started

    async def keystroke(self, key: str, done: Callable[[], bool]) -> float:
        self.hits.clear()
        self.changed = done
        started = time.perf_counter()
        driver = self.app._driver
        assert driver is not None
        driver.send_message(events.Key(key, key if len(key) == 1 else None))
        while not self.hits:
            await asyncio.sleep(0.0005)
        self.changed = lambda: False
        return self.hits[0] - started


async def _wait(pilot: Pilot[None], done: Callable[[], bool]) -> None:
    while not done():
        await pilot.pause(0.005)
    await pilot.pause()


def _first_key(app: FieldkitApp) -> str | None:
    return str(app.table.ordered_rows[0].key.value) if app.table.row_count else None


def _filtered(app: FieldkitApp, min_severity: int) -> bool:
    """The filter form is gone and the board shows the filter."""
    return app.screen is app.screen_stack[0] and app.model.filter.min_severity == min_severity


def _next_first(app: FieldkitApp) -> str:
    """The first incident once the sort moves on (computed before the keystroke)."""
    names = list(SORTS)
    following = names[(names.index(app.model.sort) + 1) % len(names)]
    shown = app.model.view()
    return min(shown, key=SORTS[following]).id


def _resorted(app: FieldkitApp, before: str, first: str) -> bool:
    """The sort changed and the board's first row is the new order's first."""
    return app.model.sort != before and _first_key(app) == first


async def _bench_console(url: str, n: int) -> dict[str, float]:
    async with NodeClient(url) as client:
        started = time.perf_counter()
        app = FieldkitApp(client)
        async with app.run_test(size=SIZE) as pilot:
            clock = PaintClock(app)
            await clock.paint(lambda: app.table.row_count > 0)
            figures = {"first_paint": time.perf_counter() - started}
            await clock.paint(lambda: app.table.row_count == n)
            figures["all_loaded"] = time.perf_counter() - started
            filters, sorts = [], []
            for k in range(PRESSES):
                await pilot.press("f")
                await pilot.pause()
                form = app.screen
                wanted = 4 if k % 2 == 0 else 0
                form.query_one("#f-min_severity", Select).value = wanted or Select.NULL
                form.query_one("#f-text").focus()
                await pilot.pause()
                filters.append(await clock.keystroke("enter", partial(_filtered, app, wanted)))
                await pilot.pause()
                sorts.append(await clock.keystroke("o", partial(
                    _resorted, app, app.model.sort, _next_first(app))))
                await pilot.pause()
            figures["filter"] = statistics.median(filters)
            figures["sort"] = statistics.median(sorts)
            app.exit()
    return figures


async def _bench_baseline(url: str, n: int) -> dict[str, float]:
    async with NodeClient(url) as client:
        started = time.perf_counter()
        app = BaselineApp(client)
        async with app.run_test(size=SIZE) as pilot:
            clock = PaintClock(app)
            await clock.paint(lambda: app.shown == n)
            figures = {"first_paint": time.perf_counter() - started}
            figures["all_loaded"] = figures["first_paint"]
            filters, sorts = [], []
            for _ in range(PRESSES):
                active = app.model.filter.active
                filters.append(await clock.keystroke(
                    "f", partial(lambda a: app.model.filter.active != a, active)))
                await pilot.pause()
                sorts.append(await clock.keystroke(
                    "o", partial(lambda s: app.model.sort != s, app.model.sort)))
                await pilot.pause()
            figures["filter"] = statistics.median(filters)
            figures["sort"] = statistics.median(sorts)
            app.exit()
    return figures


def run_tui_bench(*, incidents: int, progress: Callable[[str], None] = lambda _: None
                  ) -> TuiBenchResult:
    result = TuiBenchResult(incidents)
    with tempfile.TemporaryDirectory(prefix="fieldkit-bench-tui-") as tmp:
        node_dir = Path(tmp) / "T01"
        init_node_dir(node_dir, role="truck", name="T01")
        progress(f"writing {incidents:,} incidents")
        fill_log(node_dir, incidents)
        config = load_config(node_dir)
        config = config.model_copy(update={"api": config.api.model_copy(update={"port": 0})})
        with NodeThread(config) as url:
            progress("console")
            result.console = asyncio.run(_bench_console(url, incidents))
            progress("baseline (renders every row)")
            result.baseline = asyncio.run(_bench_baseline(url, incidents))
    return result
