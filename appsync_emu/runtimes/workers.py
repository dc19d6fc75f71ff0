"""Worker processes for resolver runtimes: the calls that outgrow the inline budget run here.

One lazily started pool of `spawn` processes per runtime (each process set up by the runtime's
`initializer`), replaced as a whole when one of its processes dies, shut down on close. Shared by
APPSYNC_JS and VTL so both keep the same rules.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class WorkerProcesses:
    """A `ProcessPoolExecutor` started on the first `submit`, dropped by `discard` or `close`."""

    def __init__(self, workers: int, initializer: Callable[..., object], initargs: tuple[Any, ...]) -> None:
        self._workers = workers
        self._initializer = initializer
        self._initargs = initargs
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """Run `fn(*args)` in a worker process (starting the pool if needed)."""
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=self._workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=self._initializer,
                    initargs=self._initargs,
                )
            pool = self._pool
        return pool.submit(fn, *args)

    def discard(self) -> None:
        """Drop the pool (a process died, `BrokenProcessPool`): the next `submit` starts a new one."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    close = discard
