"""The fingerprint registry: hash banks, their content, and the manifests provaudit signed.

SQLAlchemy 2 over SQLite (WAL) by default, PostgreSQL (``postgresql+psycopg://...``, the
``postgres`` extra) or any other URL SQLAlchemy speaks. The registry is the truth; the
FAISS indexes of ``provenance.hashbank`` are a cache of it, rebuilt from it when missing
or stale. The engine, the declarative base and the schema's migrations are
``provenance.db``'s, shared with the service's audit records and report jobs.

Hashes are stored as lowercase hex (PDQ 64 digits, pHash 16): portable across databases,
readable in a SQL shell, and what HMA, ThreatExchange and our API exchange.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from provenance.db import Base, as_utc, make_engine, upgrade_schema, utcnow
from provenance.errors import InputError, ProvauditError
from provenance.fingerprint import (
    PDQ_HEX_LENGTH,
    PDQ_MATCH_DISTANCE,
    PDQ_MIN_QUALITY,
    PHASH_HEX_LENGTH,
)

# imagehash pHash distance at which two images are called the same by default (of 64
# bits); measured in bench/fingerprint_robustness.py with the false-match rate beside it.
PHASH_MATCH_DISTANCE = 10
MAX_PDQ_THRESHOLD = 63
MAX_PHASH_THRESHOLD = 24
_BANK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_HEX = re.compile(r"^[0-9a-f]+$")

# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere ids are 64-bit.
_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class NotFoundError(ProvauditError):
    code = "not_found"


class DuplicateError(ProvauditError):
    """The bank already holds this content (or the bank name is taken)."""

    code = "duplicate"

    def __init__(self, message: str, existing_id: int | None = None) -> None:
        super().__init__(message)
        self.existing_id = existing_id


def _content_key(
    pdq: str | None, pdq_quality: int | None, phash: str | None
) -> tuple[str | None, str | None, str]:
    """Normalised hashes and the key that makes one bank hold a content once (its PDQ, or
    its pHash when it has no PDQ); the same checks for single and bulk additions."""
    pdq = normalise_hash(pdq, "pdq")
    phash = normalise_hash(phash, "phash")
    if pdq is None and phash is None:
        raise InputError("Give a PDQ hash, a pHash or both.")
    if pdq_quality is not None:
        check_threshold(pdq_quality, 100, "PDQ quality")
        if pdq is None:
            raise InputError("A PDQ quality goes with a PDQ hash.")
    return pdq, phash, f"pdq:{pdq}" if pdq is not None else f"phash:{phash}"


class RegistryInfoRow(Base):
    """Key/value facts about this registry; ``registry_id`` ties saved indexes to it."""

    __tablename__ = "registry_info"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class BankRow(Base):
    __tablename__ = "hash_banks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    pdq_threshold: Mapped[int] = mapped_column(Integer, default=PDQ_MATCH_DISTANCE)
    phash_threshold: Mapped[int] = mapped_column(Integer, default=PHASH_MATCH_DISTANCE)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BankContentRow(Base):
    __tablename__ = "bank_content"
    __table_args__ = (UniqueConstraint("bank_id", "content_key", name="uq_bank_content_key"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("hash_banks.id"), index=True)
    # "pdq:<hex>" or, for content known only by pHash, "phash:<hex>": one row per hash.
    content_key: Mapped[str] = mapped_column(String(80))
    pdq: Mapped[str | None] = mapped_column(String(PDQ_HEX_LENGTH))
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    phash: Mapped[str | None] = mapped_column(String(PHASH_HEX_LENGTH))
    source: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str | None] = mapped_column(String(64))
    content_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ManifestRow(Base):
    """A manifest provaudit signed, with the fingerprints of the image it was bound to."""

    __tablename__ = "signed_manifests"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    manifest_id: Mapped[str] = mapped_column(String(255), unique=True)
    manifest_bytes: Mapped[bytes] = mapped_column(LargeBinary)
    mime_type: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(512))
    signer: Mapped[str | None] = mapped_column(String(512))
    issuer: Mapped[str | None] = mapped_column(String(512))
    signed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    asset_sha256: Mapped[str] = mapped_column(String(64), index=True)
    pdq: Mapped[str | None] = mapped_column(String(PDQ_HEX_LENGTH), index=True)
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    phash: Mapped[str | None] = mapped_column(String(PHASH_HEX_LENGTH))
    ai_declared: Mapped[bool] = mapped_column(Boolean, default=False)
    generator: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    soft_binding_alg: Mapped[str | None] = mapped_column(String(64))
    soft_binding_value: Mapped[str | None] = mapped_column(String(128))


# --- public records ----------------------------------------------------------------------


@dataclass(frozen=True)
class BankInfo:
    id: int
    name: str
    description: str | None
    pdq_threshold: int
    phash_threshold: int
    created: dt.datetime
    content_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "pdq_threshold": self.pdq_threshold,
            "phash_threshold": self.phash_threshold,
            "created": self.created.isoformat(),
            "content_count": self.content_count,
        }


@dataclass(frozen=True)
class ContentInfo:
    id: int
    bank: str
    bank_id: int
    pdq: str | None
    pdq_quality: int | None
    phash: str | None
    source: str
    sha256: str | None
    metadata: dict[str, Any] | None
    created: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "bank_content_id": self.id,
            "bank": self.bank,
            "pdq": self.pdq,
            "pdq_quality": self.pdq_quality,
            "phash": self.phash,
            "source": self.source,
            "sha256": self.sha256,
            "metadata": self.metadata,
            "created": self.created.isoformat(),
        }


@dataclass(frozen=True)
class ManifestInfo:
    row_id: int
    manifest_id: str
    mime_type: str
    title: str | None
    signer: str | None
    issuer: str | None
    signed_at: dt.datetime
    asset_sha256: str
    pdq: str | None
    pdq_quality: int | None
    phash: str | None
    ai_declared: bool
    generator: dict[str, Any] | None
    soft_binding_alg: str | None
    soft_binding_value: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest_id": self.manifest_id,
            "mime_type": self.mime_type,
            "title": self.title,
            "signer": self.signer,
            "issuer": self.issuer,
            "signed_at": self.signed_at.isoformat(),
            "asset_sha256": self.asset_sha256,
            "pdq": self.pdq,
            "pdq_quality": self.pdq_quality,
            "phash": self.phash,
            "ai_declared": self.ai_declared,
            "generator": self.generator,
            "soft_binding": (
                {"alg": self.soft_binding_alg, "value": self.soft_binding_value}
                if self.soft_binding_alg
                else None
            ),
        }


def _bank_info(row: BankRow, count: int = 0) -> BankInfo:
    return BankInfo(
        id=row.id,
        name=row.name,
        description=row.description,
        pdq_threshold=row.pdq_threshold,
        phash_threshold=row.phash_threshold,
        created=as_utc(row.created) or utcnow(),
        content_count=count,
    )


def _content_info(row: BankContentRow, bank: str) -> ContentInfo:
    return ContentInfo(
        id=row.id,
        bank=bank,
        bank_id=row.bank_id,
        pdq=row.pdq,
        pdq_quality=row.pdq_quality,
        phash=row.phash,
        source=row.source,
        sha256=row.sha256,
        metadata=row.content_metadata,
        created=as_utc(row.created) or utcnow(),
    )


def _manifest_info(row: ManifestRow) -> ManifestInfo:
    return ManifestInfo(
        row_id=row.id,
        manifest_id=row.manifest_id,
        mime_type=row.mime_type,
        title=row.title,
        signer=row.signer,
        issuer=row.issuer,
        signed_at=as_utc(row.signed_at) or utcnow(),
        asset_sha256=row.asset_sha256,
        pdq=row.pdq,
        pdq_quality=row.pdq_quality,
        phash=row.phash,
        ai_declared=bool(row.ai_declared),
        generator=row.generator,
        soft_binding_alg=row.soft_binding_alg,
        soft_binding_value=row.soft_binding_value,
    )


# --- validation --------------------------------------------------------------------------


def check_bank_name(name: str) -> str:
    if not isinstance(name, str) or not _BANK_NAME.match(name):
        raise InputError(
            f"A bank name is 1-128 letters, digits, '_', '.' or '-', starting with a letter "
            f"or digit; {str(name)[:80]!r} is not."
        )
    return name


def check_threshold(value: int, maximum: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise InputError(f"The {what} threshold is a whole number from 0 to {maximum}.")
    return value


def normalise_hash(value: str | None, kind: Literal["pdq", "phash"]) -> str | None:
    """Lowercase hex of a PDQ (64 digits) or pHash (16 digits); one sentence otherwise."""
    if value is None:
        return None
    length = PDQ_HEX_LENGTH if kind == "pdq" else PHASH_HEX_LENGTH
    name = "PDQ hash" if kind == "pdq" else "pHash"
    if not isinstance(value, str):
        raise InputError(f"A {name} is a string of {length} hex digits.")
    text = value.strip().lower()
    if len(text) != length:
        raise InputError(f"A {name} has {length} hex digits; {text[:80]!r} has {len(text)}.")
    if not _HEX.match(text):
        raise InputError(f"A {name} contains only hex digits (0-9, a-f); {text!r} does not.")
    return text


def usable_pdq(quality: int | None) -> bool:
    """PDQ hashes below quality 50 are never matched; a hash added without one is trusted."""
    return quality is None or quality >= PDQ_MIN_QUALITY


# --- engine ------------------------------------------------------------------------------


def default_data_dir() -> Path:
    """``PROVAUDIT_DATA_DIR``, else the directory that holds the development identity."""
    configured = os.environ.get("PROVAUDIT_DATA_DIR")
    if configured:
        return Path(configured)
    from provenance.keys import default_identity_dir

    return default_identity_dir().parent


def default_registry_url() -> str:
    """The URL the CLI and the service share: ``PROVAUDIT_DATABASE_URL`` or the SQLite file."""
    return os.environ.get("PROVAUDIT_DATABASE_URL") or (
        f"sqlite:///{default_data_dir() / 'provaudit.db'}"
    )


def default_index_dir(url: str, data_dir: Path | None = None) -> Path:
    """Where the FAISS indexes are saved: beside a SQLite file, else in the data directory."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        database = Path(parsed.database)
        return database.with_name(database.name + ".hashindex")
    import hashlib

    # No password in the name: the URL without it still tells databases apart.
    tag = hashlib.sha256(parsed.render_as_string(hide_password=True).encode()).hexdigest()[:12]
    return (data_dir or default_data_dir()) / f"hashindex-{tag}"


IndexTable = Literal["content", "manifest"]
HashKind = Literal["pdq", "phash"]


class Registry:
    """Data access to the registry tables; thread-safe (one session per call)."""

    def __init__(self, engine: Engine | str) -> None:
        if isinstance(engine, str):
            try:
                engine = make_engine(engine)
            except (ImportError, ValueError, ArgumentError) as exc:  # bad URL, driver missing
                raise ProvauditError(
                    f"The registry URL cannot be used ({type(exc).__name__}: {exc}); for "
                    "PostgreSQL install the 'postgres' extra (psycopg)."
                ) from None
            self._owns_engine = True
        else:
            self._owns_engine = False
        self.engine = engine
        try:
            upgrade_schema(self.engine)
        except Exception as exc:
            from sqlalchemy.exc import SQLAlchemyError

            if isinstance(exc, SQLAlchemyError):
                url = self.engine.url.render_as_string(hide_password=True)
                raise ProvauditError(
                    f"The registry database {url} cannot be opened ({type(exc).__name__})."
                ) from None
            raise
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._statements: dict[tuple[str, str], Any] = {}
        self.registry_id = self._registry_id()

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def session(self) -> Session:
        return self._sessions()

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def _registry_id(self) -> str:
        with self.session() as session:
            row = session.get(RegistryInfoRow, "registry_id")
            if row is not None:
                return row.value
            session.add(RegistryInfoRow(key="registry_id", value=str(uuid.uuid4())))
            try:
                session.commit()
            except IntegrityError:  # another process created it first
                session.rollback()
            return session.get(RegistryInfoRow, "registry_id").value  # type: ignore[union-attr]

    # --- banks ------------------------------------------------------------------------

    def create_bank(
        self,
        name: str,
        *,
        pdq_threshold: int = PDQ_MATCH_DISTANCE,
        phash_threshold: int = PHASH_MATCH_DISTANCE,
        description: str | None = None,
    ) -> BankInfo:
        check_bank_name(name)
        check_threshold(pdq_threshold, MAX_PDQ_THRESHOLD, "PDQ")
        check_threshold(phash_threshold, MAX_PHASH_THRESHOLD, "pHash")
        with self.session() as session:
            row = BankRow(
                name=name,
                description=description,
                pdq_threshold=pdq_threshold,
                phash_threshold=phash_threshold,
            )
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                raise DuplicateError(f"A bank named {name!r} already exists.") from None
            return _bank_info(row)

    def update_bank(
        self,
        name: str,
        *,
        pdq_threshold: int | None = None,
        phash_threshold: int | None = None,
        description: str | None = None,
    ) -> BankInfo:
        with self.session() as session:
            row = self._bank_row(session, name)
            if pdq_threshold is not None:
                row.pdq_threshold = check_threshold(pdq_threshold, MAX_PDQ_THRESHOLD, "PDQ")
            if phash_threshold is not None:
                row.phash_threshold = check_threshold(phash_threshold, MAX_PHASH_THRESHOLD, "pHash")
            if description is not None:
                row.description = description
            session.commit()
            return _bank_info(row, self._count(session, row.id))

    def _bank_row(self, session: Session, name: str) -> BankRow:
        row = session.scalar(select(BankRow).where(BankRow.name == name))
        if row is None:
            raise NotFoundError(f"There is no bank named {str(name)[:128]!r}.")
        return row

    @staticmethod
    def _count(session: Session, bank_id: int) -> int:
        return int(
            session.scalar(
                select(func.count())
                .select_from(BankContentRow)
                .where(BankContentRow.bank_id == bank_id)
            )
            or 0
        )

    def bank(self, name: str) -> BankInfo:
        with self.session() as session:
            row = self._bank_row(session, name)
            return _bank_info(row, self._count(session, row.id))

    def banks(self) -> list[BankInfo]:
        with self.session() as session:
            counts = dict(
                session.execute(
                    select(BankContentRow.bank_id, func.count()).group_by(BankContentRow.bank_id)
                ).all()
            )
            rows = session.scalars(select(BankRow).order_by(BankRow.name)).all()
            return [_bank_info(row, int(counts.get(row.id, 0))) for row in rows]

    # --- bank content -----------------------------------------------------------------

    def add_content(
        self,
        bank: str,
        *,
        pdq: str | None,
        pdq_quality: int | None = None,
        phash: str | None = None,
        source: str = "hash",
        sha256: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ContentInfo:
        """One row per hash; the same PDQ (or, without one, pHash) twice in a bank is refused."""
        pdq, phash, key = _content_key(pdq, pdq_quality, phash)
        with self.session() as session:
            bank_row = self._bank_row(session, bank)
            row = BankContentRow(
                bank_id=bank_row.id,
                content_key=key,
                pdq=pdq,
                pdq_quality=pdq_quality,
                phash=phash,
                source=source,
                sha256=sha256,
                content_metadata=metadata,
            )
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                existing = session.scalar(
                    select(BankContentRow.id).where(
                        BankContentRow.bank_id == bank_row.id, BankContentRow.content_key == key
                    )
                )
                raise DuplicateError(
                    f"Bank {bank!r} already holds this content (bank_content_id {existing}).",
                    existing_id=existing,
                ) from None
            return _content_info(row, bank_row.name)

    def add_content_many(self, bank: str, rows: list[dict[str, Any]]) -> int:
        """Bulk ingestion (one transaction): rows of ``{pdq, pdq_quality, phash, ...}``.

        Duplicates make the whole batch fail; use ``add_content`` to learn which.
        """
        with self.session() as session:
            bank_row = self._bank_row(session, bank)
            values = []
            created = utcnow()
            for item in rows:
                pdq, phash, key = _content_key(
                    item.get("pdq"), item.get("pdq_quality"), item.get("phash")
                )
                values.append(
                    {
                        "bank_id": bank_row.id,
                        "content_key": key,
                        "pdq": pdq,
                        "pdq_quality": item.get("pdq_quality"),
                        "phash": phash,
                        "source": item.get("source", "hash"),
                        "sha256": item.get("sha256"),
                        "content_metadata": item.get("metadata"),
                        "created": created,
                    }
                )
            try:
                if values:
                    session.execute(insert(BankContentRow), values)
                session.commit()
            except IntegrityError:
                session.rollback()
                raise DuplicateError(f"The batch repeats content already in {bank!r}.") from None
            return len(values)

    def content(self, content_id: int) -> ContentInfo:
        with self.session() as session:
            found = session.execute(
                select(BankContentRow, BankRow.name)
                .join(BankRow, BankRow.id == BankContentRow.bank_id)
                .where(BankContentRow.id == content_id)
            ).first()
            if found is None:
                raise NotFoundError(f"There is no bank content with id {content_id}.")
            return _content_info(found[0], found[1])

    def content_count(self) -> int:
        with self.session() as session:
            return int(session.scalar(select(func.count()).select_from(BankContentRow)) or 0)

    # --- signed manifests -------------------------------------------------------------

    def record_manifest(self, **fields: Any) -> ManifestInfo:
        """Store a signed manifest; signing the same manifest twice keeps the first record."""
        for kind in ("pdq", "phash"):
            fields[kind] = normalise_hash(fields.get(kind), kind)  # type: ignore[arg-type]
        with self.session() as session:
            row = ManifestRow(**fields)
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                existing = session.scalar(
                    select(ManifestRow).where(ManifestRow.manifest_id == fields["manifest_id"])
                )
                if existing is None:
                    raise
                return _manifest_info(existing)
            return _manifest_info(row)

    def manifest(self, manifest_id: str) -> tuple[ManifestInfo, bytes]:
        with self.session() as session:
            row = session.scalar(select(ManifestRow).where(ManifestRow.manifest_id == manifest_id))
            if row is None:
                raise NotFoundError(f"No manifest {str(manifest_id)[:255]!r} in the registry.")
            return _manifest_info(row), bytes(row.manifest_bytes)

    def manifests_by_row_ids(self, row_ids: list[int]) -> dict[int, ManifestInfo]:
        if not row_ids:
            return {}
        with self.session() as session:
            rows = session.scalars(select(ManifestRow).where(ManifestRow.id.in_(row_ids))).all()
            return {row.id: _manifest_info(row) for row in rows}

    def manifest_count(self) -> int:
        with self.session() as session:
            return int(session.scalar(select(func.count()).select_from(ManifestRow)) or 0)

    # --- what the indexes are built from -----------------------------------------------

    @staticmethod
    def _index_query(table: IndexTable, kind: HashKind) -> tuple[Any, Any, Any, list[Any]]:
        model = BankContentRow if table == "content" else ManifestRow
        column = model.pdq if kind == "pdq" else model.phash
        group = BankContentRow.bank_id if table == "content" else None
        conditions = [column.is_not(None)]
        if kind == "pdq":
            conditions.append(
                or_(model.pdq_quality.is_(None), model.pdq_quality >= PDQ_MIN_QUALITY)
            )
        return model, column, group, conditions

    def index_rows(
        self, table: IndexTable, kind: HashKind, *, after_id: int = 0, batch: int = 50_000
    ) -> Iterator[list[tuple[int, int, str | None, int | None]]]:
        """Batches of ``(id, group, hex, pdq quality)`` of every row above ``after_id``.

        Rows without this hash come too (hex None): the caller skips them but still learns
        the highest id it has seen. The statement is built once; only its bounds change.
        """
        key = (table, kind)
        statement = self._statements.get(key)
        if statement is None:
            model = BankContentRow if table == "content" else ManifestRow
            group = BankContentRow.bank_id if table == "content" else literal(0)
            column = model.pdq if kind == "pdq" else model.phash
            statement = (
                select(model.id, group, column, model.pdq_quality)
                .where(model.id > bindparam("after"))
                .order_by(model.id)
                .limit(bindparam("batch"))
            )
            self._statements[key] = statement
        last = after_id
        while True:
            with self.engine.connect() as connection:
                rows = connection.execute(statement, {"after": last, "batch": batch}).all()
            if not rows:
                return
            last = rows[-1][0]
            yield [(int(i), int(g), v, q) for i, g, v, q in rows]

    def index_row_ids(self, table: IndexTable, kind: HashKind, *, up_to_id: int) -> list[int]:
        model, _column, _group, conditions = self._index_query(table, kind)
        with self.session() as session:
            return list(
                session.scalars(select(model.id).where(model.id <= up_to_id, *conditions)).all()
            )

    def count_index_rows(self, table: IndexTable, kind: HashKind, *, up_to_id: int) -> int:
        model, _column, _group, conditions = self._index_query(table, kind)
        with self.session() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(model).where(model.id <= up_to_id, *conditions)
                )
                or 0
            )

    def rows_by_ids(self, table: IndexTable, kind: HashKind, ids: list[int]) -> list[tuple]:
        model, column, group, _conditions = self._index_query(table, kind)
        with self.session() as session:
            rows = session.execute(
                select(model.id, group if group is not None else model.id, column).where(
                    model.id.in_(ids)
                )
            ).all()
        return [(int(i), int(g) if group is not None else 0, v) for i, g, v in rows]
