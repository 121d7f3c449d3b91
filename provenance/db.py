"""The one database of provaudit: engine, declarative base and schema migrations.

The fingerprint registry (hash banks, signed manifests), the service's audit records and
the bias-report jobs live in one database (a SQLite file by default, PostgreSQL at
scale) with one schema history, kept by Alembic in ``provenance/migrations``.

Every engine comes from :func:`make_engine`, so a SQLite file behaves the same wherever it
is opened, the CLI beside a running server included: WAL (readers never block the
writer), ``synchronous=NORMAL`` (durable in WAL mode against a crash of the process; only
a power loss can take back the last commits), foreign keys enforced, and a 30 s busy
timeout, so a writer waits for another's lock instead of failing at once.

:func:`upgrade_schema` brings any database to the newest schema: a new one is created, one
made before migrations existed (tables but no ``alembic_version``) gets the tables it
lacks, and one at an older revision is migrated.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import DeclarativeBase

from provenance.errors import ProvauditError

SQLITE_BUSY_TIMEOUT_S = 30
MIGRATIONS = Path(__file__).with_name("migrations")


class Base(DeclarativeBase):
    """The declarative base of every table provaudit keeps."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite keeps no zone; we only ever store UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created and its pragmas set."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    database = url.split(":///", 1)[-1]
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S}
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise ProvauditError("provaudit's schema migrations are missing from the install.")
    return head


def schema_revision(engine: Engine) -> str | None:
    """The revision ``engine``'s database is at; None before its first migration."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_schema(engine: Engine) -> str:
    """Migrate ``engine``'s database to the newest schema; returns that revision."""
    from alembic import command

    head = head_revision()
    if schema_revision(engine) == head:
        return head
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return head


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())
