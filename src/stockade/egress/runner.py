"""An :class:`EgressProxy` on its own event loop in a daemon thread, for synchronous callers."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from .interface import EgressError, EventCallback, JobCounters, JobEgress, Resolver
from .proxy import EgressProxy
from .tunnel import SPLICE

T = TypeVar("T")


class EgressThread:
    """Runs one proxy for many jobs; every method may be called from any thread.

    ``with EgressThread() as egress: egress.register(sock, config, on_event) ...``
    Event callbacks run on the proxy's thread.
    """

    def __init__(self, *, resolver: Resolver | None = None, splice: bool = SPLICE,
                 timeout_s: float = 30.0) -> None:
        self._resolver = resolver
        self._splice = splice
        self._timeout_s = timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proxy: EgressProxy | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> EgressThread:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._main, name="stockade-egress", daemon=True)
        self._thread.start()
        self._ready.wait()
        return self

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def make() -> EgressProxy:
            return EgressProxy(resolver=self._resolver, splice=self._splice)

        self._proxy = loop.run_until_complete(make())
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._loop is None or self._proxy is None:
            coroutine.close()
            raise EgressError("the egress proxy is not running", hint="call start() first")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(self._timeout_s)

    def register(self, listener: socket.socket, config: JobEgress,
                 on_event: EventCallback) -> None:
        """Serve ``listener`` for the job (see :meth:`EgressProxy.register`)."""
        self._call(self._proxy_call("register", listener, config, on_event))

    def unregister(self, job_id: str) -> JobCounters:
        """Close the job's listener and connections; its final counters."""
        result: JobCounters = self._call(self._proxy_call("unregister", job_id))
        return result

    def counters(self, job_id: str) -> JobCounters:
        async def read() -> JobCounters:
            assert self._proxy is not None
            return self._proxy.counters(job_id)

        return self._call(read())

    async def _proxy_call(self, name: str, *args: Any) -> Any:
        assert self._proxy is not None
        return await getattr(self._proxy, name)(*args)

    def close(self) -> dict[str, JobCounters]:
        """Unregister every job and stop the thread; the jobs' final counters."""
        if self._loop is None or self._proxy is None or self._thread is None:
            return {}
        counters: dict[str, JobCounters] = self._call(self._proxy.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(self._timeout_s)
        self._loop = self._proxy = self._thread = None
        self._ready.clear()
        return counters

    def __enter__(self) -> EgressThread:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
