"""One database, one schema history: every engine from ``provenance.db``, migrated by
Alembic, and databases made before migrations existed adopted with their rows.

``fixtures/schema-v0`` is what provaudit wrote before this history began: a SQLite dump of a
database made by that version (a bank with one item, a signed manifest, an audit, a report
job) and the PostgreSQL DDL of the same schema.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import IntegrityError

from provenance.db import Base, head_revision, make_engine, schema_revision, upgrade_schema

LEGACY = Path(__file__).resolve().parent / "fixtures" / "schema-v0"
POSTGRES_URL = os.environ.get("PROVAUDIT_TEST_POSTGRES_URL")
ALL_TABLES = {
    "hash_banks",
    "bank_content",
    "signed_manifests",
    "registry_info",
    "audits",
    "bias_reports",
    "bank_actions",
    "action_deliveries",
    "action_attempts",
}


def _differences(engine: Engine) -> list[object]:
    """What separates the database's schema from the models' (empty when they agree)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    # Every model's table, on Base, whichever tests ran before this one.
    import provenance.tables  # noqa: F401
    import service.db
    import service.report_store  # noqa: F401

    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def _legacy_sqlite(path: Path, statements: str | None = None) -> str:
    connection = sqlite3.connect(path)
    connection.executescript(statements or (LEGACY / "provaudit.sqlite.sql").read_text())
    connection.close()
    return f"sqlite:///{path}"


def test_a_new_database_gets_the_models_schema(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'new.sqlite'}")
    assert schema_revision(engine) is None
    assert upgrade_schema(engine) == head_revision() == schema_revision(engine)
    assert _differences(engine) == []
    assert upgrade_schema(engine) == head_revision()  # a second run changes nothing


def test_a_database_from_before_migrations_is_adopted_with_its_rows(tmp_path):
    from provenance.registry import Registry
    from service.db import AuditRecord, make_session_factory
    from service.db import make_engine as service_engine
    from service.report_store import ReportJob

    url = _legacy_sqlite(tmp_path / "old.sqlite")
    engine = service_engine(url)
    assert schema_revision(engine) == head_revision()
    assert _differences(engine) == []
    registry = Registry(engine)
    (bank,) = registry.banks()
    assert (bank.name, bank.content_count) == ("known-fakes", 1)
    assert bank.created.tzinfo is not None
    item = registry.content(1)
    assert (item.bank, item.metadata) == ("known-fakes", {"case": 7})
    manifest, manifest_bytes = registry.manifest("urn:uuid:legacy-1")
    assert (manifest.generator, manifest_bytes) == ({"family": "gan"}, b"\x00jumb")
    with make_session_factory(engine)() as session:
        assert session.query(AuditRecord).one().verdict == "likely_real"
        assert session.query(ReportJob).one().result == {"ok": True}


def test_a_registry_only_database_gains_the_service_tables(tmp_path):
    dump = (LEGACY / "provaudit.sqlite.sql").read_text()
    registry_only = dump + "DROP TABLE audits; DROP TABLE bias_reports;"
    engine = make_engine(_legacy_sqlite(tmp_path / "cli.sqlite", registry_only))
    with engine.connect() as connection:
        before = {row[0] for row in connection.execute(text("SELECT name FROM sqlite_master"))}
    assert "audits" not in before and "hash_banks" in before
    upgrade_schema(engine)
    assert _differences(engine) == []


def test_the_services_engine_enforces_foreign_keys_and_waits_for_locks(tmp_path):
    """Once, the service opened its own SQLite engine without the registry's pragmas."""
    from service.db import make_engine as service_engine

    engine = service_engine(f"sqlite:///{tmp_path / 'service.sqlite'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO bank_content (bank_id, content_key, source, created) "
                "VALUES (999, 'pdq:x', 'hash', '2026-01-01')"
            )
        )


@pytest.fixture
def postgres() -> Iterator[Engine]:
    if not POSTGRES_URL:
        pytest.skip(
            "PROVAUDIT_TEST_POSTGRES_URL is not set (.ci/run starts PostgreSQL and sets it)"
        )
    schema = f"provaudit_migrations_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = create_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    yield scoped
    scoped.dispose()
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_postgresql_database_from_before_migrations_is_adopted(postgres):
    from provenance.registry import Registry

    with postgres.begin() as connection:
        for statement in (LEGACY / "provaudit.postgresql.sql").read_text().split(";"):
            if statement.strip():
                connection.execute(text(statement))
        connection.execute(
            text(
                "INSERT INTO hash_banks (name, pdq_threshold, phash_threshold, created) "
                "VALUES ('known-fakes', 31, 10, now())"
            )
        )
    assert schema_revision(postgres) is None
    registry = Registry(postgres)
    assert schema_revision(postgres) == head_revision()
    assert _differences(postgres) == []
    assert [bank.name for bank in registry.banks()] == ["known-fakes"]
    with postgres.connect() as connection:
        tables = {
            row[0]
            for row in connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            )
        }
    assert ALL_TABLES | {"alembic_version"} == tables
