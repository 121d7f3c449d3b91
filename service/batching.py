"""Dynamic micro-batching of detector inference across concurrent requests.

Each audit runs in its own worker thread; instead of each calling the model with one
image, they drop their image into a queue. One batcher thread takes what arrived within
``max_wait_s`` of the first image (up to ``max_batch`` images) and scores them in one
call, which is what makes a CNN cheap per image on a CPU.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from detectors.inference import Scorer, Scores


@dataclass
class _Job:
    tiles: np.ndarray
    future: Future


class MicroBatcher:
    def __init__(
        self,
        scorer: Scorer,
        *,
        max_batch: int = 32,
        max_wait_s: float = 0.004,
        on_batch: object = None,
    ) -> None:
        self.scorer = scorer
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._on_batch = on_batch
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="detector-batcher", daemon=True)
        self._thread.start()

    def submit(self, tiles: np.ndarray) -> Future:
        """A future of the ``detectors.inference.ImageScore`` of one image, given as its
        uint8 (T, size, size, 3) tiles (``Scorer.cut``, ``detectors.regions``)."""
        future: Future = Future()
        self._jobs.put(_Job(tiles, future))
        return future

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=5)

    def _collect(self, first: _Job) -> list[_Job]:
        batch = [first]
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                job = self._jobs.get(timeout=remaining)
            except queue.Empty:
                break
            if job is None:
                self._jobs.put(None)  # let the loop see the stop after this batch
                break
            batch.append(job)
        return batch

    def _run(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            batch = self._collect(first)
            start = time.perf_counter()
            try:
                scores: Scores = self.scorer.score_tiles([job.tiles for job in batch])
            except Exception as exc:  # one bad batch must not kill the batcher thread
                for job in batch:
                    job.future.set_exception(exc)
                continue
            if callable(self._on_batch):
                self._on_batch(len(batch), time.perf_counter() - start)
            for index, job in enumerate(batch):
                job.future.set_result(scores.image(index))
