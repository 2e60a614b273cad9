"""Components' loops end when stopped, however the stop and their wake-up interleave."""

from __future__ import annotations

import asyncio

from fieldkit.tasks import cancel_and_wait, wait_event


async def test_a_loop_stops_when_cancelled_as_its_event_is_set():
    """The interleaving that hung a node's stop (the sync scheduler woken by a write as the
    node stopped): the event is set, the waiting task is resumed by it, and only then is
    it cancelled. With ``asyncio.wait_for`` on Python 3.11 the cancel was dropped and the
    loop waited again, so ``cancel_and_wait`` never returned."""
    wake = asyncio.Event()
    waits = 0

    async def loop() -> None:
        nonlocal waits
        while True:
            wake.clear()
            waits += 1
            await wait_event(wake, 60.0)

    task = asyncio.create_task(loop())
    while waits == 0:
        await asyncio.sleep(0)  # one loop step: the task reaches its wait
    wake.set()
    await asyncio.sleep(0)  # one step: what waits on the event is woken
    async with asyncio.timeout(30):  # a bound for a hang, not a timing
        await cancel_and_wait(task)
    assert task.cancelled()


async def test_wait_event_says_whether_the_event_came():
    wake = asyncio.Event()
    assert await wait_event(wake, 0.0) is False
    wake.set()
    assert await wait_event(wake, 60.0) is True
