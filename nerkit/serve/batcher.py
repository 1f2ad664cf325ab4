"""Dynamic batching: concurrent requests run together through one ``pipe`` call.

Each request's texts wait in a FIFO queue. One worker coroutine forms batches
of whole requests, at most ``max_batch_size`` texts each, and runs them through
``predict`` (``Pipeline.pipe``: windows sorted by length, one model call per
window batch) one at a time in a single worker thread, handing each request its
own slice of the results.

A batch is formed while the previous one is in the model, and goes in as soon
as the model is free: under load the model never waits for a batch to fill
(HTTP work for the next requests overlaps the model call of the current ones),
and a batch holds whatever arrived during the previous call. Only when the
model is idle does the first request of a batch wait, at most ``max_wait_ms``,
for others to join it, so that the wait costs latency only when traffic is
light.

A request with more texts than fit in the forming batch is kept for the next
one (requests are never split); a request larger than ``max_batch_size`` runs
as a batch of its own. A request whose caller stopped waiting (a cancelled
future) is dropped before it reaches the model. ``stop()`` lets the worker
finish every request queued before it, so a graceful shutdown answers
everything it accepted.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Generic, List, Optional, Sequence, Tuple, TypeVar

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
        running: Optional[asyncio.Future] = None  # the batch in the model
        carry: Optional[_Job] = None  # a request that did not fit in the last batch
        stopping = False
        while carry is not None or not stopping:
            jobs, n, carry, stopping = await self._collect(loop, running, carry, stopping)
            if running is not None:
                await running
            running = None
            if jobs:
                running = asyncio.ensure_future(self._run_batch(loop, jobs, n))
        if running is not None:
            await running

    async def _collect(
        self,
        loop: asyncio.AbstractEventLoop,
        running: Optional[asyncio.Future],
        carry: Optional[_Job],
        stopping: bool,
    ) -> Tuple[List[_Job], int, Optional[_Job], bool]:
        """The next batch: whole requests in FIFO order, until it is full, or the model is
        free (``running`` done) and the batch holds a request, or the model was idle and
        ``max_wait`` passed since the first request. Also returns the request that did
        not fit and whether the stop marker was reached."""
        jobs: List[_Job] = []
        n = 0
        deadline: Optional[float] = None
        while True:
            if carry is not None:
                job, carry = carry, None
            elif stopping:
                break  # everything queued before the stop is in jobs or carry
            elif not self._queue.empty():
                job = self._queue.get_nowait()
            else:
                job = await self._wait(loop, jobs, running, deadline)
                if job is None:
                    break
            if job is _STOP:
                stopping = True
                continue
            if job.future.done():  # (its caller was cancelled: nothing to answer)
                continue
            if jobs and n + len(job.texts) > self.max_batch_size:
                carry = job
                break
            jobs.append(job)
            n += len(job.texts)
            if n >= self.max_batch_size:
                break
            if deadline is None and (running is None or running.done()):
                deadline = loop.time() + self.max_wait
        return jobs, n, carry, stopping

    async def _wait(
        self,
        loop: asyncio.AbstractEventLoop,
        jobs: List[_Job],
        running: Optional[asyncio.Future],
        deadline: Optional[float],
    ) -> Optional[Any]:
        """The next queued item, or None when the batch should go in without it: the
        model became free (or was free and the deadline passed) with requests waiting."""
        if not jobs:
            return await self._queue.get()
        get = asyncio.ensure_future(self._queue.get())
        if running is not None and not running.done():
            await asyncio.wait((get, running), return_when=asyncio.FIRST_COMPLETED)
            if not get.done() and deadline is None:
                deadline = loop.time()  # the model is free: the batch goes in now
        if not get.done():
            timeout = max(0.0, (deadline if deadline is not None else loop.time()) - loop.time())
            await asyncio.wait((get,), timeout=timeout)
        if get.done():
            return get.result()
        get.cancel()
        return None

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
