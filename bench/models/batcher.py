"""Collects concurrent Inspect `generate` calls into batches for one local model.

Inspect calls `generate` once per sample, concurrently. A local model is fastest when it sees many
prompts at once, so requests wait briefly (until the batch is full or no new request has arrived for
`wait` seconds) and run together in a worker thread, one batch at a time, grouped by their sampling
settings. Which requests share a batch depends on timing (concurrency, `--max-connections`), so
nothing random may depend on it: every item carries its own row seed (provider), and the engines give
each row a random stream of its own (`bench.models.generation`). Within a batch, items are ordered by
their content, so a batch of the same items always runs in the same order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Any

import anyio


class Batcher:
    def __init__(self, run: Callable[[Hashable, list[Any]], list[Any]], batch_size: int, wait: float = 0.3):
        self._run = run
        self.batch_size = batch_size
        self.wait = wait
        self._pending: list[tuple[Hashable, Any, asyncio.Future]] = []
        self._worker: asyncio.Task | None = None

    async def submit(self, key: Hashable, item: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((key, item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            seen = -1
            while len(self._pending) < self.batch_size and len(self._pending) != seen:
                seen = len(self._pending)
                await asyncio.sleep(self.wait)
            key = self._pending[0][0]
            batch = [p for p in self._pending if p[0] == key][: self.batch_size]
            for p in batch:
                self._pending.remove(p)
            batch.sort(key=lambda p: repr(p[1]))
            try:
                results = await anyio.to_thread.run_sync(self._run, key, [p[1] for p in batch])
            except Exception as err:  # every waiting sample sees the failure, none hangs
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                continue
            for (_, _, future), result in zip(batch, results):
                if not future.done():
                    future.set_result(result)
