"""Wake-ups: a waiter that took its event before looking is woken by a later change."""

from __future__ import annotations

import asyncio
import threading

from stockade.server.notify import Notifier, wait
from stockade.store.records import Effects


def test_a_change_from_another_thread_wakes_the_waiter() -> None:
    async def main() -> tuple[bool, bool]:
        notifier = Notifier()
        notifier.bind(asyncio.get_running_loop())
        event = notifier.event("pool:p")
        threading.Timer(0.05, notifier.publish, args=(Effects(pools={"p"}),)).start()
        woken = await wait(event, 5)
        idle = await wait(notifier.event("pool:q"), 0.05)
        return woken, idle

    assert asyncio.run(main()) == (True, False)
