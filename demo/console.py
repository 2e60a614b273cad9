"""`fieldkit demo` with the crew console: the demo's nodes and scripted crews run in the
console's event loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from demo.run import run_demo
from fieldkit.tasks import cancel_and_wait
from tui._app import FieldkitApp
from tui._client import NodeClient


def run_demo_console(root: Path, seed: int, duration: float | None = None) -> None:
    """Run the demo in ``root`` (logging as the caller set up) with the console on its
    truck; quitting the console stops the demo, and the end of the demo (``duration``)
    closes the console."""

    async def main() -> None:
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        demo = asyncio.create_task(run_demo(root, duration=duration, seed=seed, echo=None,
                                            on_ready=ready.set_result))
        waiting = asyncio.ensure_future(ready)
        await asyncio.wait({demo, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if demo.done():
            waiting.cancel()
            demo.result()  # raises why the demo could not start
            return
        app = FieldkitApp(NodeClient(waiting.result()))
        console = asyncio.create_task(app.run_async())
        try:
            await asyncio.wait({demo, console}, return_when=asyncio.FIRST_COMPLETED)
            if not console.done():
                app.exit()
            await console
        finally:
            await cancel_and_wait(demo)

    asyncio.run(main())
