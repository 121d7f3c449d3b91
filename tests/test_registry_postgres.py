"""The registry on a real PostgreSQL server (``.ci/run`` starts one on loopback).

Set ``PROVAUDIT_TEST_POSTGRES_URL`` (``postgresql+psycopg://user:password@127.0.0.1:port/db``)
to run these; each test works in its own schema and drops it afterwards.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from provenance.hashquery import HashQuery
from provenance.jumbf import active_manifest_label
from provenance.keys import default_identity
from provenance.registry import DuplicateError, NotFoundError, Registry
from provenance.signing import ProvenanceSigner, SignRequest
from provenance.softbinding import encode_value
from provenance.store import FingerprintStore
from provenance.tables import BankContentRow
from tests.conftest import encode

URL = os.environ.get("PROVAUDIT_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(
    not URL,
    reason="PROVAUDIT_TEST_POSTGRES_URL is not set (.ci/run starts PostgreSQL and sets it)",
)
PDQ = Path(__file__).resolve().parent / "fixtures" / "pdq"
ORIGINAL_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


@pytest.fixture
def engine() -> Iterator[object]:
    from sqlalchemy import create_engine, text

    schema = f"provaudit_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = create_engine(URL, connect_args={"options": f"-csearch_path={schema}"})
    yield scoped
    scoped.dispose()
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_round_trip_banks_manifests_and_saved_indexes(engine, tmp_path):
    store = FingerprintStore(Registry(engine), tmp_path / "index")
    assert store.registry.engine.dialect.name == "postgresql"
    store.banks.create_bank("KNOWN", pdq_threshold=31, description="on postgres")
    with pytest.raises(DuplicateError):
        store.banks.create_bank("KNOWN")
    added = store.banks.add_image("KNOWN", (PDQ / "bridge-mods" / "aaa-orig.jpg").read_bytes())
    assert added.pdq == ORIGINAL_PDQ
    with pytest.raises(DuplicateError) as caught:
        store.banks.add_hashes("KNOWN", pdq=ORIGINAL_PDQ, metadata={"again": True})
    assert caught.value.existing_id == added.id
    with pytest.raises(NotFoundError):
        store.banks.add_hashes("MISSING", pdq=ORIGINAL_PDQ)
    store.banks.add_hashes("KNOWN", pdq="cd" * 32, pdq_quality=88, metadata={"case": "x"})

    rotated = Image.open(PDQ / "dih" / "bridge-4-rotate-270.jpg").convert("RGB")
    (result,) = store.banks.lookup([HashQuery.from_image(rotated)])
    assert result["KNOWN"][0]["bank_content_id"] == added.id

    # Signing records the manifest bytes (bytea) and fingerprints; a stripped copy recovers it.
    identity = default_identity()[0]
    photo = Image.open(PDQ / "bridge-mods" / "aaa-orig.jpg").convert("RGB").resize((480, 300))
    signed = ProvenanceSigner(identity, recorder=store.manifests).sign(
        encode(photo, "JPEG", quality=95), SignRequest(ai_generated=True)
    )
    manifest_id = active_manifest_label(signed.manifest_bytes)
    info, stored = store.manifests.manifest(manifest_id)
    assert stored == signed.manifest_bytes and info.ai_declared
    copy = Image.open(io.BytesIO(signed.data)).convert("RGB").resize((360, 225))
    stripped = Image.open(io.BytesIO(encode(copy, "JPEG", quality=80)))
    assert store.manifests.recover_image(stripped)[0].manifest.manifest_id == manifest_id
    assert info.iscc == signed.iscc is not None  # the io.iscc.v0 code, migration 0002
    (by_iscc,) = store.manifests.by_binding("io.iscc.v0", encode_value("io.iscc.v0", info.iscc))
    assert (by_iscc.manifest.manifest_id, by_iscc.distance) == (manifest_id, 0)
    store.close()

    # Reopened: the saved indexes belong to this registry and are reused, not rebuilt.
    reopened = FingerprintStore(Registry(engine), tmp_path / "index")
    status = reopened.status()
    assert status["rebuilt_on_open"] == [] and status["in_sync"] is True
    assert status["indexes"]["content-pdq"]["size"] == 2
    assert status["indexes"]["manifest-pdq"]["size"] == 1
    assert status["indexes"]["manifest-iscc"]["size"] == 1
    assert reopened.banks.bank("KNOWN").content_count == 2
    assert reopened.registry.content(added.id).metadata is None
    reopened.close()


def test_a_row_committed_late_below_the_index_is_found_by_the_check(engine, tmp_path):
    """PostgreSQL hands out ids before commit: another writer's lower id can commit after
    the index has synced past it. ``status`` (``check``) finds and adds such rows."""
    from sqlalchemy.orm import Session

    store = FingerprintStore(Registry(engine), tmp_path / "index")
    bank = store.banks.create_bank("LATE")
    store.open_indexes()
    late_pdq = "ef" * 32
    with Session(engine) as slow:  # another process's transaction, still open
        row = BankContentRow(
            bank_id=bank.id, content_key=f"pdq:{late_pdq}", pdq=late_pdq, source="hash"
        )
        slow.add(row)
        slow.flush()  # the id is taken now
        early = store.banks.add_hashes("LATE", pdq="12" * 32)  # a higher id, committed first
        assert early.id > row.id
        slow.commit()
    late = HashQuery.from_hashes(pdq=late_pdq)
    assert store.banks.lookup([late]) == [{}]  # below the synced id: not seen yet
    status = store.status()
    assert status["in_sync"] is True and status["indexes"]["content-pdq"]["size"] == 2
    assert store.banks.lookup([late])[0]["LATE"][0]["distance"] == 0
    store.close()
