"""The FAISS indexes that cache the registry's hashes: load, rebuild, sync, check, save.

Five exact indexes (``provenance.hashindex``) cache the registry:

========== ======= ================================================================
table      hash    what it answers
========== ======= ================================================================
content    pdq     bank lookups (multi-hash, per-bank threshold, dihedral queries)
content    phash   bank lookups by pHash (flat, 64 bits)
manifest   pdq     soft-binding recovery of manifests provaudit signed
manifest   phash   recovery by pHash
manifest   iscc    recovery by ISCC Content-Code Image (``io.iscc.v0``; flat, 256 bits)
========== ======= ================================================================

The registry is the truth. Every addition is committed first and then pulled into the
index by ``sync`` (rows with an id above the index's highest), so a new hash matches at
once, and content added by another process (the CLI beside a running server) is picked
up by the next search. Indexes are saved beside the SQLite file (on close, and by the
service every few minutes when changed) and, on open, reused only if they belong to this
registry and agree with it on the rows they cover; otherwise they are rebuilt from it. A
process killed mid-ingestion therefore loses nothing that was acknowledged: the rows are
in the database and the next start syncs them in.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance.hashindex import BinaryHashIndex, hex_to_codes
from provenance.hashquery import HASH_BITS, HashQuery, IndexHit
from provenance.hashrules import HashKind, IndexTable, usable_pdq
from provenance.registry import Registry

logger = logging.getLogger("provaudit.indexcache")

INDEXES: tuple[tuple[IndexTable, HashKind], ...] = (
    ("content", "pdq"),
    ("content", "phash"),
    ("manifest", "pdq"),
    ("manifest", "phash"),
    ("manifest", "iscc"),
)


@dataclass
class _State:
    indexes: dict[tuple[IndexTable, HashKind], BinaryHashIndex]
    rebuilt: list[str] = field(default_factory=list)
    last_saved: dt.datetime | None = None
    dirty: bool = False


class IndexCache:
    """The registry's hashes in memory, searchable. Thread-safe.

    Indexes are opened on first use (``open`` to do it up front): writers that only add
    rows need the database alone. A writer holds :attr:`lock` across its insert and
    :meth:`add_committed`, so this process's own rows enter in id order.
    """

    def __init__(self, registry: Registry, index_dir: Path | None = None) -> None:
        self.registry = registry
        self.index_dir = index_dir
        self.lock = threading.RLock()
        self._state: _State | None = None
        self._autosave: threading.Thread | None = None
        self._stop = threading.Event()

    # --- life cycle ---------------------------------------------------------------------

    def open(self) -> None:
        self._indexes()

    def _indexes(self) -> dict[tuple[IndexTable, HashKind], BinaryHashIndex]:
        with self.lock:
            if self._state is None:
                state = _State(indexes={})
                for table, kind in INDEXES:
                    state.indexes[(table, kind)] = self._load_or_rebuild(table, kind, state)
                self._state = state
                self._sync_locked()
                if state.dirty:
                    self._save_locked()
            return self._state.indexes

    def _path(self, table: IndexTable, kind: HashKind) -> Path | None:
        return self.index_dir / f"{table}-{kind}.faiss" if self.index_dir else None

    @staticmethod
    def _new_index(kind: HashKind) -> BinaryHashIndex:
        # PDQ in multi-hash tables. pHash, and ISCC (256 bits, but at a radius of 48 a
        # multi-hash search flips 3 bits a table: 18 ms a query over 100k codes, against
        # 0.9 ms flat), compared with every code.
        return BinaryHashIndex(HASH_BITS[kind], "multihash" if kind == "pdq" else "flat")

    def _load_or_rebuild(self, table: IndexTable, kind: HashKind, state: _State) -> BinaryHashIndex:
        path = self._path(table, kind)
        loaded = BinaryHashIndex.load(path) if path else None
        if loaded is not None:
            index, info = loaded
            agrees = info.get("registry_id") == self.registry.registry_id and (
                self.registry.count_index_rows(table, kind, up_to_id=index.max_id) == index.ntotal
            )
            if agrees:
                return index
            logger.warning("The saved %s-%s index disagrees with the registry.", table, kind)
        index = self._new_index(kind)
        self._fill(index, table, kind, after_id=0)
        state.rebuilt.append(f"{table}-{kind}")
        state.dirty = True
        return index

    def _fill(
        self, index: BinaryHashIndex, table: IndexTable, kind: HashKind, after_id: int
    ) -> int:
        """Add the indexable rows above ``after_id``; how many were added."""
        import numpy as np

        added = 0
        for rows in self.registry.index_rows(table, kind, after_id=after_id):
            keep = [
                row for row in rows if row[2] is not None and (kind != "pdq" or usable_pdq(row[3]))
            ]
            if keep:
                index.add(
                    np.fromiter((row[0] for row in keep), np.int64, len(keep)),
                    hex_to_codes([row[2] for row in keep], HASH_BITS[kind]),  # type: ignore[misc]
                    np.fromiter((row[1] for row in keep), np.int32, len(keep)),
                )
                added += len(keep)
            index.advance(rows[-1][0])
        return added

    def add_committed(
        self,
        table: IndexTable,
        row_id: int,
        group: int,
        pdq: str | None,
        pdq_quality: int | None,
        phash: str | None,
        iscc: str | None = None,
    ) -> None:
        """Index a row this process just committed, without reading it back if possible.

        When the row comes right after what an index has considered, nobody else wrote in
        between and it is added directly; otherwise the index syncs from the registry.
        Call with :attr:`lock` held, right after the commit.
        """
        import numpy as np

        with self.lock:
            if self._state is None:
                return
            values: tuple[tuple[HashKind, str | None], ...] = (
                ("pdq", pdq),
                ("phash", phash),
                ("iscc", iscc),
            )
            for kind, value in values:
                index = self._state.indexes.get((table, kind))
                if index is None:  # bank content has no ISCC
                    continue
                if index.max_id != row_id - 1:
                    self._fill(index, table, kind, after_id=index.max_id)
                else:
                    if value is not None and (kind != "pdq" or usable_pdq(pdq_quality)):
                        index.add(
                            np.asarray([row_id], np.int64),
                            hex_to_codes([value], HASH_BITS[kind]),
                            np.asarray([group], np.int32),
                        )
                    index.advance(row_id)
            self._state.dirty = True

    def remove_committed(self, table: IndexTable, row_ids: list[int]) -> int:
        """Leave rows this process just deleted out of every search from now on.

        Call with :attr:`lock` held, right after the delete commits. Rows another process
        deletes are left out by the caller's own check against the registry
        (``HashBank.lookup``) and dropped here by ``check``.
        """
        with self.lock:
            if self._state is None:
                return 0
            removed = 0
            for (index_table, _kind), index in self._state.indexes.items():
                if index_table == table:
                    removed += index.remove(row_ids)
            self._state.dirty = True
            return removed

    def sync(self) -> int:
        """Pull rows committed since the last sync into the indexes; how many were added."""
        with self.lock:
            if self._state is None:
                return 0
            return self._sync_locked()

    def _sync_locked(self, only: tuple[IndexTable, HashKind] | None = None) -> int:
        assert self._state is not None
        added = 0
        for (table, kind), index in self._state.indexes.items():
            if only is None or only == (table, kind):
                added += self._fill(index, table, kind, after_id=index.max_id)
        if added:
            self._state.dirty = True
        return added

    def check(self, *, repair: bool = True) -> dict[str, dict[str, Any]]:
        """Each index against the registry: sizes, and whether they agree (repairing if not).

        Rows can reach the registry below an index's highest id when another process's
        transaction commits late (PostgreSQL hands out ids before commit); those are found
        here by comparing the ids and added. Rows another process deleted are removed.
        """
        import numpy as np

        indexes = self._indexes()
        report: dict[str, dict[str, Any]] = {}
        with self.lock:
            assert self._state is not None
            self._sync_locked()
            for (table, kind), index in indexes.items():
                rows = self.registry.count_index_rows(table, kind, up_to_id=2**62)
                if rows != index.ntotal and repair:
                    stored = self.registry.index_row_ids(table, kind, up_to_id=index.max_id)
                    # Rows another process removed: left out like this process's removals.
                    vanished = np.setdiff1d(index.ids, np.asarray(stored, np.int64))
                    if len(vanished):
                        index.remove(vanished.tolist())
                    missing = np.setdiff1d(np.asarray(stored, np.int64), index.ids)
                    if not len(missing) and len(stored) == index.ntotal:
                        pass  # the removals were all it lacked
                    elif len(missing) and len(stored) - len(missing) == index.ntotal:
                        found = self.registry.rows_by_ids(table, kind, missing.tolist())
                        index.add(
                            np.asarray([r[0] for r in found], np.int64),
                            hex_to_codes([r[2] for r in found], HASH_BITS[kind]),
                            np.asarray([r[1] for r in found], np.int32),
                        )
                    else:  # the index disagrees otherwise: start again from the registry
                        index = self._new_index(kind)
                        self._fill(index, table, kind, after_id=0)
                        indexes[(table, kind)] = index
                    self._state.dirty = True
                report[f"{table}-{kind}"] = {
                    "kind": index.kind,
                    "size": index.ntotal,
                    "registry_rows": rows,
                    "max_id": index.max_id,
                    "in_sync": rows == index.ntotal,
                }
        return report

    def save(self) -> bool:
        """Write the indexes beside the registry if they changed; whether it wrote."""
        with self.lock:
            if self._state is None or not self._state.dirty or self.index_dir is None:
                return False
            return self._save_locked()

    def _save_locked(self) -> bool:
        assert self._state is not None
        if self.index_dir is None:
            return False
        try:
            for (table, kind), index in self._state.indexes.items():
                index.save(
                    self._path(table, kind),  # type: ignore[arg-type]
                    {"registry_id": self.registry.registry_id},
                )
        except OSError as exc:
            logger.warning("The hash indexes cannot be saved in %s (%s).", self.index_dir, exc)
            return False
        self._state.dirty = False
        self._state.last_saved = dt.datetime.now(dt.timezone.utc)
        return True

    def start_autosave(self, interval_s: float = 300.0) -> None:
        """Save changed indexes every ``interval_s`` (a restart then has less to sync)."""
        if self._autosave is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval_s):
                self.save()

        self._autosave = threading.Thread(target=loop, name="index-autosave", daemon=True)
        self._autosave.start()

    def close(self, *, save: bool = True) -> None:
        self._stop.set()
        if self._autosave is not None:
            self._autosave.join(timeout=5)
        if save:
            self.save()

    def status(self) -> dict[str, Any]:
        """:meth:`check` (repairing), plus when the indexes were rebuilt and saved."""
        indexes = self.check(repair=True)
        state = self._state
        return {
            "index_dir": str(self.index_dir) if self.index_dir else None,
            "indexes": indexes,
            "in_sync": all(entry["in_sync"] for entry in indexes.values()),
            "rebuilt_on_open": list(state.rebuilt) if state else [],
            "last_saved": state.last_saved.isoformat() if state and state.last_saved else None,
            "unsaved_changes": bool(state and state.dirty),
        }

    # --- searching ----------------------------------------------------------------------

    def search(
        self, table: IndexTable, kind: HashKind, queries: list[HashQuery], radius: int
    ) -> list[dict[int, IndexHit]]:
        """The best hit per stored row for each query, within ``radius``."""
        found: list[dict[int, IndexHit]] = [{} for _ in queries]
        owners: list[tuple[int, str]] = []
        hexes: list[str] = []
        for position, query in enumerate(queries):
            for variant, value in query.codes(kind):
                owners.append((position, variant))
                hexes.append(value)
        if not hexes:
            return found
        indexes = self._indexes()
        with self.lock:
            self._sync_locked((table, kind))
            hits = indexes[(table, kind)].search(hex_to_codes(hexes, HASH_BITS[kind]), radius)
        for (position, variant), hit in zip(owners, hits, strict=True):
            best = found[position]
            for row_id, group, distance in zip(
                hit.ids.tolist(), hit.groups.tolist(), hit.distances.tolist(), strict=True
            ):
                current = best.get(row_id)
                if current is None or distance < current.distance:
                    best[row_id] = IndexHit(row_id, group, distance, kind, variant)
        return found
