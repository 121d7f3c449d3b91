"""Where ``--out`` results go: JSON lines, or Parquet with the JSON beside a few columns."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol

from provenance.errors import ProvauditError
from service.audit.batch import FileAudit

PARQUET_ROW_GROUP = 1024
PARQUET_COLUMNS = ("path", "filename", "sha256", "verdict", "provenance_state", "error", "json")
"""Scalar columns to filter on, and ``json``: the whole result as ``--json`` prints it (its
nested blocks differ from file to file, which a Parquet schema cannot hold as columns)."""


class Sink(Protocol):
    def write(self, audit: FileAudit) -> None: ...


class JsonLinesSink:
    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle

    def write(self, audit: FileAudit) -> None:
        self.handle.write(audit.to_json() + "\n")


class ParquetSink:
    def __init__(self, path: Path) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ProvauditError(
                "--out .parquet needs pyarrow: pip install 'provaudit[ray]' (or 'pyarrow')."
            ) from None
        self._pa = pa
        self.schema = pa.schema([(name, pa.string()) for name in PARQUET_COLUMNS])
        self.writer = pq.ParquetWriter(str(path), self.schema)
        self.rows: list[dict[str, Any]] = []

    def write(self, audit: FileAudit) -> None:
        self.rows.append(parquet_row(audit))
        if len(self.rows) >= PARQUET_ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.writer.write_table(self._pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []

    def close(self) -> None:
        self.flush()
        self.writer.close()


def parquet_row(audit: FileAudit) -> dict[str, Any]:
    result = audit.result or {}
    return {
        "path": audit.path,
        "filename": result.get("filename"),
        "sha256": result.get("sha256"),
        "verdict": audit.verdict,
        "provenance_state": audit.state,
        "error": audit.error.message if audit.error else None,
        "json": audit.to_json(),
    }


def read_results(path: Path) -> list[FileAudit]:
    """What a ``--out`` file holds, in its order (for tests and follow-up scripts)."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return [FileAudit.from_json(text) for text in pq.read_table(path)["json"].to_pylist()]
    return [FileAudit.from_json(line) for line in path.read_text().splitlines() if line]


@contextmanager
def open_sink(out: Path | None) -> Iterator[Sink | None]:
    """None for stdout; the file is written beside and renamed when complete."""
    if out is None:
        yield None
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    if out.suffix.lower() == ".parquet":
        sink = ParquetSink(partial)
        try:
            yield sink
        finally:
            sink.close()
        partial.replace(out)
        return
    with open(partial, "w", encoding="utf-8") as handle:
        yield JsonLinesSink(handle)
    partial.replace(out)
