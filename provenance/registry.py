"""The fingerprint registry: hash banks, their content, and the manifests provaudit signed.

SQLAlchemy 2 over SQLite (WAL) by default, PostgreSQL (``postgresql+psycopg://...``, the
``postgres`` extra) or any other URL SQLAlchemy speaks. The registry is the truth; the
FAISS indexes of ``provenance.indexcache`` are a cache of it, rebuilt from it when missing
or stale. The engine, the declarative base and the schema's migrations are
``provenance.db``'s, shared with the service's audit records and report jobs.

The tables are ``provenance.tables``, the records it returns ``provenance.records``, the
rules hashes follow ``provenance.hashrules``.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, bindparam, func, insert, literal, or_, select
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from provenance.db import make_engine, upgrade_schema, utcnow
from provenance.errors import InputError, ProvauditError
from provenance.fingerprint import PDQ_MATCH_DISTANCE, PDQ_MIN_QUALITY
from provenance.hashrules import (
    MAX_PDQ_THRESHOLD,
    MAX_PHASH_THRESHOLD,
    PHASH_MATCH_DISTANCE,
    HashKind,
    IndexTable,
    check_bank_name,
    check_threshold,
    normalise_hash,
)
from provenance.records import (
    BankInfo,
    ContentInfo,
    ManifestInfo,
    bank_info,
    content_info,
    manifest_info,
)
from provenance.tables import BankContentRow, BankRow, ManifestRow, RegistryInfoRow

WATERMARK_IDS = 1 << 32
"""Watermark payloads are 32-bit (``provenance.watermark.PAYLOAD_BITS``)."""


def _check_watermark(watermark: int) -> None:
    if isinstance(watermark, bool) or not isinstance(watermark, int):
        raise InputError(f"A watermark ID is a whole number, not {type(watermark).__name__}.")
    if not 0 <= watermark < WATERMARK_IDS:
        raise InputError(f"A watermark ID is in [0, 2**32), not {watermark}.")


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
            return bank_info(row)

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
            return bank_info(row, self._count(session, row.id))

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
            return bank_info(row, self._count(session, row.id))

    def banks(self) -> list[BankInfo]:
        with self.session() as session:
            counts = dict(
                session.execute(
                    select(BankContentRow.bank_id, func.count()).group_by(BankContentRow.bank_id)
                ).all()
            )
            rows = session.scalars(select(BankRow).order_by(BankRow.name)).all()
            return [bank_info(row, int(counts.get(row.id, 0))) for row in rows]

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
            return content_info(row, bank_row.name)

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
            return content_info(found[0], found[1])

    def contents_by_ids(self, content_ids: list[int]) -> dict[int, ContentInfo]:
        """The bank content still in the registry among ``content_ids``, by id."""
        if not content_ids:
            return {}
        with self.session() as session:
            found = session.execute(
                select(BankContentRow, BankRow.name)
                .join(BankRow, BankRow.id == BankContentRow.bank_id)
                .where(BankContentRow.id.in_(content_ids))
            ).all()
            return {row.id: content_info(row, name) for row, name in found}

    def list_content(
        self, bank: str, *, limit: int = 50, offset: int = 0
    ) -> tuple[list[ContentInfo], int]:
        """A page of a bank's content, oldest first, and how many items it holds in all."""
        if limit < 1 or offset < 0:
            raise InputError("A page needs a limit of at least 1 and an offset of at least 0.")
        with self.session() as session:
            bank_row = self._bank_row(session, bank)
            rows = session.scalars(
                select(BankContentRow)
                .where(BankContentRow.bank_id == bank_row.id)
                .order_by(BankContentRow.id)
                .limit(limit)
                .offset(offset)
            ).all()
            total = self._count(session, bank_row.id)
            return [content_info(row, bank_row.name) for row in rows], total

    def remove_content(self, bank: str, content_id: int) -> ContentInfo:
        """Delete one item of ``bank``; NotFoundError when the bank does not hold it."""
        with self.session() as session:
            bank_row = self._bank_row(session, bank)
            row = session.get(BankContentRow, content_id)
            if row is None or row.bank_id != bank_row.id:
                raise NotFoundError(f"Bank {bank!r} has no content with id {content_id}.")
            info = content_info(row, bank_row.name)
            session.delete(row)
            session.commit()
            return info

    def content_count(self) -> int:
        with self.session() as session:
            return int(session.scalar(select(func.count()).select_from(BankContentRow)) or 0)

    # --- signed manifests -------------------------------------------------------------

    def record_manifest(
        self,
        *,
        manifest_id: str,
        manifest_bytes: bytes,
        mime_type: str,
        asset_sha256: str,
        signed_at: dt.datetime,
        title: str | None = None,
        signer: str | None = None,
        issuer: str | None = None,
        pdq: str | None = None,
        pdq_quality: int | None = None,
        phash: str | None = None,
        ai_declared: bool = False,
        generator: dict[str, Any] | None = None,
        soft_binding_alg: str | None = None,
        soft_binding_value: str | None = None,
        iscc: str | None = None,
        watermark: int | None = None,
    ) -> ManifestInfo:
        """Store a signed manifest; signing the same manifest twice keeps the first record.

        ``iscc`` is the body of the image's ISCC Content-Code Image (64 hex digits);
        ``watermark`` the payload marked into its pixels (see :meth:`unused_watermark`).
        """
        if watermark is not None:
            _check_watermark(watermark)
        with self.session() as session:
            row = ManifestRow(
                manifest_id=manifest_id,
                manifest_bytes=manifest_bytes,
                mime_type=mime_type,
                asset_sha256=asset_sha256,
                signed_at=signed_at,
                title=title,
                signer=signer,
                issuer=issuer,
                pdq=normalise_hash(pdq, "pdq"),
                pdq_quality=pdq_quality,
                phash=normalise_hash(phash, "phash"),
                ai_declared=ai_declared,
                generator=generator,
                soft_binding_alg=soft_binding_alg,
                soft_binding_value=soft_binding_value,
                iscc=normalise_hash(iscc, "iscc"),
                watermark=watermark,
            )
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                existing = session.scalar(
                    select(ManifestRow).where(ManifestRow.manifest_id == manifest_id)
                )
                if existing is None:
                    if watermark is not None and self.manifest_by_watermark(watermark):
                        raise DuplicateError(
                            f"Watermark {watermark} already names another manifest in the "
                            "registry (allocate one with unused_watermark)."
                        ) from None
                    raise
                return manifest_info(existing)
            return manifest_info(row)

    def manifest(self, manifest_id: str) -> tuple[ManifestInfo, bytes]:
        with self.session() as session:
            row = session.scalar(select(ManifestRow).where(ManifestRow.manifest_id == manifest_id))
            if row is None:
                raise NotFoundError(f"No manifest {str(manifest_id)[:255]!r} in the registry.")
            return manifest_info(row), bytes(row.manifest_bytes)

    def manifest_by_watermark(self, watermark: int) -> ManifestInfo | None:
        """The manifest whose image was marked with ``watermark``, if one was recorded."""
        if isinstance(watermark, bool) or not 0 <= int(watermark) < WATERMARK_IDS:
            return None
        with self.session() as session:
            row = session.scalar(select(ManifestRow).where(ManifestRow.watermark == watermark))
            return manifest_info(row) if row is not None else None

    def unused_watermark(self, *, attempts: int = 16) -> int:
        """A random 32-bit watermark ID no recorded manifest holds yet.

        Random (``secrets``), so IDs say nothing about how many images were signed or when,
        and retried against the registry. Two signers racing for the same fresh ID (odds
        about n / 2**32) are stopped by the unique index when the second one records.
        """
        for _ in range(attempts):
            candidate = secrets.randbelow(WATERMARK_IDS)
            with self.session() as session:
                taken = session.scalar(
                    select(ManifestRow.id).where(ManifestRow.watermark == candidate)
                )
            if taken is None:
                return candidate
        raise ProvauditError(
            f"No unused watermark ID found in {attempts} random draws: the registry's "
            "32-bit watermark space is nearly full."
        )

    def manifests_by_row_ids(self, row_ids: list[int]) -> dict[int, ManifestInfo]:
        if not row_ids:
            return {}
        with self.session() as session:
            rows = session.scalars(select(ManifestRow).where(ManifestRow.id.in_(row_ids))).all()
            return {row.id: manifest_info(row) for row in rows}

    def manifest_count(self) -> int:
        with self.session() as session:
            return int(session.scalar(select(func.count()).select_from(ManifestRow)) or 0)

    # --- what the indexes are built from -----------------------------------------------

    @staticmethod
    def _column(table: IndexTable, kind: HashKind) -> tuple[Any, Any]:
        """The table's model and its column of ``kind`` (only signed manifests have ISCC)."""
        model = BankContentRow if table == "content" else ManifestRow
        if kind == "iscc" and model is not ManifestRow:
            raise ValueError("Only signed manifests keep an ISCC code.")
        return model, {"pdq": model.pdq, "phash": model.phash, "iscc": ManifestRow.iscc}[kind]

    @classmethod
    def _index_query(cls, table: IndexTable, kind: HashKind) -> tuple[Any, Any, Any, list[Any]]:
        model, column = cls._column(table, kind)
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
            model, column = self._column(table, kind)
            group = BankContentRow.bank_id if table == "content" else literal(0)
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
