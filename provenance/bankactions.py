"""The Actioner's records: a bank's webhook, and every delivery and attempt made to it.

What to do on a match is data in the registry (``bank_actions``), so ``provaudit bank
action set`` and the API configure the same thing. Each match to tell a webhook about is a
delivery (``action_deliveries``), written before the first attempt so that one the process
did not finish is resumed after a restart; each POST is an attempt (``action_attempts``).
The sending itself is the service's (``service.actioner``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import func, select

from provenance.db import as_utc, utcnow
from provenance.errors import InputError
from provenance.registry import NotFoundError, Registry
from provenance.tables import ActionAttemptRow, ActionDeliveryRow, BankActionRow, BankRow

DeliveryStatus = Literal["pending", "delivered", "failed"]
AttemptOutcome = Literal["delivered", "retry", "failed"]
DELIVERY_STATUSES: tuple[DeliveryStatus, ...] = ("pending", "delivered", "failed")
MAX_URL_LENGTH = 2048


_PORT = "([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
WEBHOOK_URL_PATTERN = rf"^https?://[A-Za-z0-9._~-]+(:{_PORT})?([/?#][!-~]*)?$"
"""http or https, a host name or IPv4 address, an optional port, and a path and query of
printable ASCII (percent-encode the rest): the API's schema states it, and the CLI checks
the same."""


def check_webhook_url(url: str) -> str:
    """An absolute http or https URL with a host, else one sentence saying what is wrong."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise InputError(f"A webhook URL is at most {MAX_URL_LENGTH} characters.")
    if not url.startswith(("http://", "https://")):
        raise InputError(f"A webhook URL must start with http:// or https://, not {url[:200]!r}.")
    if re.fullmatch(WEBHOOK_URL_PATTERN, url) is None or not urlsplit(url).hostname:
        raise InputError(
            f"{url[:200]!r} is not a webhook URL: http(s)://host[:port][/path], with a host "
            "name or IPv4 address and printable ASCII (percent-encoded) after it."
        )
    return url


@dataclass(frozen=True)
class BankAction:
    bank: str
    webhook_url: str
    created: dt.datetime
    updated: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "bank": self.bank,
            "webhook_url": self.webhook_url,
            "created": self.created.isoformat(),
            "updated": self.updated.isoformat(),
        }


@dataclass(frozen=True)
class Attempt:
    number: int
    started: dt.datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    outcome: AttemptOutcome

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "started": self.started.isoformat(),
            "duration_ms": self.duration_ms,
            "status_code": self.status_code,
            "error": self.error,
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class Delivery:
    id: int
    bank: str
    bank_content_id: int
    url: str
    payload: dict[str, Any]
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    created: dt.datetime
    updated: dt.datetime
    history: tuple[Attempt, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "delivery_id": self.id,
            "bank": self.bank,
            "bank_content_id": self.bank_content_id,
            "url": self.url,
            "status": self.status,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "created": self.created.isoformat(),
            "updated": self.updated.isoformat(),
            "payload": self.payload,
            "history": [attempt.to_dict() for attempt in self.history],
        }


@dataclass(frozen=True)
class NewDelivery:
    """A match to tell ``bank``'s webhook about; ``payload`` is the JSON body."""

    bank: str
    bank_content_id: int
    payload: dict[str, Any]


def _stamp(value: dt.datetime | None) -> dt.datetime:
    return as_utc(value) or utcnow()


def _attempt(row: ActionAttemptRow) -> Attempt:
    return Attempt(
        number=row.number,
        started=_stamp(row.started),
        duration_ms=row.duration_ms,
        status_code=row.status_code,
        error=row.error,
        outcome=row.outcome,  # type: ignore[arg-type]
    )


def _delivery(row: ActionDeliveryRow, bank: str, history: tuple[Attempt, ...] = ()) -> Delivery:
    return Delivery(
        id=row.id,
        bank=bank,
        bank_content_id=row.bank_content_id,
        url=row.url,
        payload=row.payload,
        status=row.status,  # type: ignore[arg-type]
        attempts=row.attempts,
        last_error=row.last_error,
        created=_stamp(row.created),
        updated=_stamp(row.updated),
        history=history,
    )


class BankActions:
    """The actions of one registry's banks. Thread-safe (one session per call)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    # --- configuration ----------------------------------------------------------------

    def set_webhook(self, bank: str, url: str) -> BankAction:
        url = check_webhook_url(url)
        with self.registry.session() as session:
            bank_row = self._bank(session, bank)
            row = session.scalar(select(BankActionRow).where(BankActionRow.bank_id == bank_row.id))
            now = utcnow()
            if row is None:
                row = BankActionRow(bank_id=bank_row.id, webhook_url=url, created=now, updated=now)
                session.add(row)
            else:
                row.webhook_url, row.updated = url, now
            session.commit()
            return BankAction(
                bank_row.name, row.webhook_url, _stamp(row.created), _stamp(row.updated)
            )

    def clear_webhook(self, bank: str) -> bool:
        """Remove ``bank``'s webhook; whether it had one. Its delivery history stays."""
        with self.registry.session() as session:
            bank_row = self._bank(session, bank)
            row = session.scalar(select(BankActionRow).where(BankActionRow.bank_id == bank_row.id))
            if row is None:
                return False
            session.delete(row)
            session.commit()
            return True

    def action(self, bank: str) -> BankAction | None:
        with self.registry.session() as session:
            bank_row = self._bank(session, bank)
            row = session.scalar(select(BankActionRow).where(BankActionRow.bank_id == bank_row.id))
            if row is None:
                return None
            return BankAction(
                bank_row.name, row.webhook_url, _stamp(row.created), _stamp(row.updated)
            )

    def webhooks(self, banks: set[str]) -> dict[str, str]:
        """The webhook URL of each of ``banks`` that has one."""
        if not banks:
            return {}
        with self.registry.session() as session:
            rows = session.execute(
                select(BankRow.name, BankActionRow.webhook_url)
                .join(BankActionRow, BankActionRow.bank_id == BankRow.id)
                .where(BankRow.name.in_(sorted(banks)))
            ).all()
            return {name: url for name, url in rows}

    # --- deliveries -------------------------------------------------------------------

    def create_deliveries(self, items: list[NewDelivery]) -> list[Delivery]:
        """Record the matches whose bank has a webhook as pending deliveries (one
        transaction); matches of banks without one are left out."""
        urls = self.webhooks({item.bank for item in items})
        wanted = [item for item in items if item.bank in urls]
        if not wanted:
            return []
        with self.registry.session() as session:
            ids = dict(
                session.execute(
                    select(BankRow.name, BankRow.id).where(BankRow.name.in_(sorted(urls)))
                ).all()
            )
            now = utcnow()
            rows = []
            for item in wanted:
                row = ActionDeliveryRow(
                    bank_id=ids[item.bank],
                    bank_content_id=item.bank_content_id,
                    url=urls[item.bank],
                    payload=item.payload,
                    status="pending",
                    attempts=0,
                    created=now,
                    updated=now,
                )
                session.add(row)
                rows.append((row, item.bank))
            session.flush()
            for row, _bank in rows:  # the body names its own delivery, for idempotency
                row.payload = {**row.payload, "delivery_id": row.id}
            session.commit()
            return [_delivery(row, bank) for row, bank in rows]

    def record_attempt(
        self,
        delivery_id: int,
        *,
        number: int,
        started: dt.datetime,
        duration_ms: int,
        status_code: int | None,
        error: str | None,
        outcome: AttemptOutcome,
    ) -> None:
        """Record one POST and what the delivery's status is after it (one transaction)."""
        with self.registry.session() as session:
            delivery = session.get(ActionDeliveryRow, delivery_id)
            if delivery is None:
                raise NotFoundError(f"There is no action delivery {delivery_id}.")
            session.add(
                ActionAttemptRow(
                    delivery_id=delivery_id,
                    number=number,
                    started=started,
                    duration_ms=duration_ms,
                    status_code=status_code,
                    error=error,
                    outcome=outcome,
                )
            )
            delivery.attempts = number
            delivery.status = {"delivered": "delivered", "retry": "pending", "failed": "failed"}[
                outcome
            ]
            delivery.last_error = error if outcome != "delivered" else None
            delivery.updated = utcnow()
            session.commit()

    def pending(self, limit: int = 10_000) -> list[Delivery]:
        """Deliveries not finished (a process stopped while they waited for a retry)."""
        with self.registry.session() as session:
            found = session.execute(
                select(ActionDeliveryRow, BankRow.name)
                .join(BankRow, BankRow.id == ActionDeliveryRow.bank_id)
                .where(ActionDeliveryRow.status == "pending")
                .order_by(ActionDeliveryRow.id)
                .limit(limit)
            ).all()
            return [_delivery(row, name) for row, name in found]

    def deliveries(
        self,
        bank: str,
        *,
        limit: int = 50,
        offset: int = 0,
        status: DeliveryStatus | None = None,
    ) -> tuple[list[Delivery], int]:
        """A page of ``bank``'s deliveries, newest first, each with its attempts; and how
        many there are in all (of that ``status``, if given)."""
        if limit < 1 or offset < 0:
            raise InputError("A page needs a limit of at least 1 and an offset of at least 0.")
        if status is not None and status not in DELIVERY_STATUSES:
            raise InputError(
                f"Unknown delivery status {status!r}; known: {', '.join(DELIVERY_STATUSES)}."
            )
        with self.registry.session() as session:
            bank_row = self._bank(session, bank)
            conditions = [ActionDeliveryRow.bank_id == bank_row.id]
            if status is not None:
                conditions.append(ActionDeliveryRow.status == status)
            rows = session.scalars(
                select(ActionDeliveryRow)
                .where(*conditions)
                .order_by(ActionDeliveryRow.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
            total = int(
                session.scalar(
                    select(func.count()).select_from(ActionDeliveryRow).where(*conditions)
                )
                or 0
            )
            history: dict[int, list[Attempt]] = {}
            if rows:
                for attempt in session.scalars(
                    select(ActionAttemptRow)
                    .where(ActionAttemptRow.delivery_id.in_([row.id for row in rows]))
                    .order_by(ActionAttemptRow.number)
                ).all():
                    history.setdefault(attempt.delivery_id, []).append(_attempt(attempt))
            return (
                [_delivery(row, bank_row.name, tuple(history.get(row.id, ()))) for row in rows],
                total,
            )

    @staticmethod
    def _bank(session: Any, name: str) -> BankRow:
        row = session.scalar(select(BankRow).where(BankRow.name == name))
        if row is None:
            raise NotFoundError(f"There is no bank named {str(name)[:128]!r}.")
        return row
