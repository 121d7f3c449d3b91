"""Bias reports as background jobs of the service.

``POST /v1/reports`` checks the request at once (paths under ``PROVAUDIT_REPORTS_ROOT``,
options) and queues a job; worker threads run the same engine as the CLI and record the
status, progress and finished report in the database. The workers are daemon threads: a
service that stops does not wait for a report, and the next start marks the jobs it left
unfinished as failed ("interrupted") rather than leaving them running forever.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from provenance.errors import ProvauditError
from service.bias.options import ReportOptions
from service.report_store import DONE, FAILED, QUEUED, RUNNING, ReportJob, fail_interrupted

logger = logging.getLogger("provaudit.service")
PROGRESS_EVERY_S = 0.5


class PathRefused(ProvauditError):
    """A request names a server path outside the configured reports root."""

    code = "path_outside_root"


class ReportsDisabled(ProvauditError):
    code = "reports_disabled"


@dataclass
class ReportSettings:
    root: Path | None
    out_root: Path
    detector: Path | None
    workers: int = 1


class ReportJobs:
    def __init__(self, factory: sessionmaker[Session], settings: ReportSettings) -> None:
        self.factory = factory
        self.settings = settings
        self.root = settings.root.resolve() if settings.root is not None else None
        self.queue: queue.Queue[tuple[str, ReportOptions] | None] = queue.Queue()
        interrupted = fail_interrupted(factory)
        if interrupted:
            logger.warning("%d bias report(s) were interrupted by a restart.", interrupted)
        self.threads = [
            threading.Thread(target=self._work, name=f"bias-report-{i}", daemon=True)
            for i in range(max(1, settings.workers))
        ]
        for thread in self.threads:
            thread.start()

    # --- requests ------------------------------------------------------------------------

    def resolve(self, text: str, what: str) -> Path:
        """A server path from a request: relative to the root, or absolute but inside it."""
        if self.root is None:
            raise ReportsDisabled(
                "Reports read server folders only under PROVAUDIT_REPORTS_ROOT, which is not set."
            )
        given = Path(text)
        candidate = (given if given.is_absolute() else self.root / given).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            raise PathRefused(
                f"The {what} {text!r} is outside the reports root; the service reads only "
                "folders under PROVAUDIT_REPORTS_ROOT."
            )
        if not candidate.exists():
            raise FileNotFoundError(f"The {what} {text!r} does not exist under the reports root.")
        return candidate

    def submit(self, request: dict[str, Any], options: ReportOptions) -> ReportJob:
        job = ReportJob(status=QUEUED, request=request, progress={"done": 0, "total": None})
        with self.factory() as session:
            session.add(job)
            session.commit()
        out_dir = self.settings.out_root / job.id
        options.exclude.append(out_dir)
        self.queue.put((job.id, options))
        return job

    def get(self, job_id: str) -> ReportJob | None:
        with self.factory() as session:
            return session.get(ReportJob, job_id)

    def out_dir(self, job_id: str) -> Path:
        return self.settings.out_root / job_id

    def close(self) -> None:
        for _ in self.threads:
            self.queue.put(None)

    # --- workers -------------------------------------------------------------------------

    def _update(self, job_id: str, **values: Any) -> None:
        with self.factory() as session:
            job = session.get(ReportJob, job_id)
            if job is None:
                return
            for key, value in values.items():
                setattr(job, key, value)
            session.commit()

    def _work(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            job_id, options = item
            try:
                self._run(job_id, options)
            except Exception:  # never let one report kill the worker
                logger.exception("bias report %s failed", job_id)
                self._update(
                    job_id,
                    status=FAILED,
                    finished=dt.datetime.now(dt.timezone.utc),
                    error={
                        "code": "internal_error",
                        "message": "The report failed; the error was logged.",
                    },
                )

    def _run(self, job_id: str, options: ReportOptions) -> None:
        from service.bias.report import build_report, write_report

        self._update(job_id, status=RUNNING, started=dt.datetime.now(dt.timezone.utc))
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if done == total or now - last[0] >= PROGRESS_EVERY_S:
                last[0] = now
                self._update(job_id, progress={"done": done, "total": total, "stage": "images"})

        try:
            report, dataset, table = build_report(options, progress=progress)
            out_dir = self.out_dir(job_id)
            write_report(report, out_dir, dataset, table)
        except ProvauditError as exc:
            self._update(
                job_id,
                status=FAILED,
                finished=dt.datetime.now(dt.timezone.utc),
                error={"code": exc.code, "message": str(exc)},
            )
            return
        self._update(
            job_id,
            status=DONE,
            finished=dt.datetime.now(dt.timezone.utc),
            result=report,
            out_dir=str(out_dir),
            progress={"done": len(dataset.entries), "total": len(dataset.entries), "stage": "done"},
        )
