"""Report jobs in provaudit's one database (``provenance.db``, whose migrations create
their table). A job is ``queued``, ``running``, ``done`` or ``failed``; the
finished report document is stored with it, its files live under ``data_dir/reports/ID``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, DateTime, String, Text, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from provenance.db import Base, as_utc, utcnow

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


class ReportJob(Base):
    __tablename__ = "bias_reports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    created: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    started: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default=QUEUED, index=True)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    out_dir: Mapped[str | None] = mapped_column(Text)


def fail_interrupted(factory: sessionmaker[Session]) -> int:
    """Jobs a previous process left queued or running will never finish: say so."""
    with factory() as session:
        result = session.execute(
            update(ReportJob)
            .where(ReportJob.status.in_((QUEUED, RUNNING)))
            .values(
                status=FAILED,
                finished=utcnow(),
                error={
                    "code": "interrupted",
                    "message": "The service restarted before the report finished; submit it again.",
                },
            )
        )
        session.commit()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def utc(value: dt.datetime | None) -> str | None:
    value = as_utc(value)
    return None if value is None else value.isoformat()
