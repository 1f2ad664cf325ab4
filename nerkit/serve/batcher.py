"""Dynamic batching: concurrent requests run together through one ``pipe`` call.

Each request's texts wait in a FIFO queue. One worker coroutine takes the first
waiting request, then keeps taking requests until the batch holds
``max_batch_size`` texts or ``max_wait_ms`` has passed since it took the first,
runs the whole batch through ``predict`` (``Pipeline.pipe``: windows sorted by
length, one model call per window batch) in a single worker thread, and hands
each request its own slice of the results. While the model runs, new requests
queue up, so under load a batch is full as soon as the previous one finishes and
the wait only costs latency when traffic is light.

A request with more texts than fit in the current batch is kept for the next one
(requests are never split); a request larger than ``max_batch_size`` runs as a
batch of its own. ``stop()`` lets the worker finish every request queued before
it, so a graceful shutdown answers everything it accepted.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Generic, List, Optional, Sequence, TypeVar

R = TypeVar("R")


@dataclass
class _Job(Generic[R]):
    texts: Sequence[str]
    future: asyncio.Future


@dataclass
class BatchStats:
    """Counters for ``GET /health`` and the serving benchmark."""

    requests: int = 0
    texts: int = 0
    batches: int = 0
    largest_batch: int = 0
    errors: int = 0
    in_flight: int = 0  # requests submitted and not answered yet


_STOP = object()


class DynamicBatcher(Generic[R]):
    """Queue texts from many coroutines; run them ``max_batch_size`` at a time.

    predict: texts -> one result per text, in order (runs in a worker thread).
    """

    def __init__(
        self,
        predict: Callable[[List[str]], List[R]],
        max_batch_size: int = 64,
        max_wait_ms: float = 5.0,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}.")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}.")
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.stats = BatchStats()
        self._queue: Optional[asyncio.Queue] = None
        self._task: Optional[asyncio.Task] = None
        self._executor: Optional[ThreadPoolExecutor] = None

    @property
    def queued(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        # one thread: batches run one after another, the model is not shared between threads
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nerkit-batch")
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Finish every queued request, then stop the worker."""
        if self._task is None:
            return
        await self._queue.put(_STOP)
        await self._task
        self._task = None
        self._executor.shutdown(wait=True)

    async def submit(self, texts: Sequence[str]) -> List[R]:
        if self._task is None or self._task.done():
            raise RuntimeError("the batcher is not running (the server is shutting down).")
        future = asyncio.get_running_loop().create_future()
        self.stats.in_flight += 1
        try:
            await self._queue.put(_Job(list(texts), future))
            return await future
        finally:
            self.stats.in_flight -= 1

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        carry: Optional[_Job] = None
        stopping = False
        while True:
            if carry is not None:
                first, carry = carry, None
            elif stopping:
                return
            else:
                first = await self._queue.get()
                if first is _STOP:
                    return
            jobs, n = [first], len(first.texts)
            deadline = loop.time() + self.max_wait
            while n < self.max_batch_size and not stopping:
                try:
                    if self._queue.empty():
                        timeout = deadline - loop.time()
                        if timeout <= 0:
                            break
                        job = await asyncio.wait_for(self._queue.get(), timeout)
                    else:
                        job = self._queue.get_nowait()
                except asyncio.TimeoutError:
                    break
                if job is _STOP:
                    stopping = True  # everything queued before the stop is in jobs or carry
                    break
                if n + len(job.texts) > self.max_batch_size:
                    carry = job
                    break
                jobs.append(job)
                n += len(job.texts)
            await self._run_batch(loop, jobs, n)

    async def _run_batch(self, loop: asyncio.AbstractEventLoop, jobs: List[_Job], n: int) -> None:
        texts = [t for job in jobs for t in job.texts]
        stats = self.stats
        stats.batches += 1
        stats.requests += len(jobs)
        stats.texts += n
        stats.largest_batch = max(stats.largest_batch, n)
        try:
            results = await loop.run_in_executor(self._executor, self.predict, texts)
            if len(results) != len(texts):
                raise RuntimeError(
                    f"predict returned {len(results)} results for {len(texts)} texts."
                )
        except (
            Exception
        ) as err:  # the error goes to the requests of this batch, the worker lives on
            stats.errors += 1
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(err)
            return
        at = 0
        for job in jobs:
            k = len(job.texts)
            if not job.future.done():  # (a client that went away cancels its future)
                job.future.set_result(results[at : at + k])
            at += k
