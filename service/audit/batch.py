"""The per-image audit function, the files it runs on, and the local engine.

One function, :func:`audit_file`, turns a path into the JSON ``POST /v1/audit`` answers
(with ``path`` in place of the service's ``audit_id`` and ``created``), or into an error
for that file alone; both engines call it. The local engine runs it on a thread pool in
this process rather than a process pool: the stages spend their time in code that
releases the GIL (c2pa's Rust verifier, Pillow's decoder, numpy, onnxruntime), and the
threads share one detector whose micro-batcher (``service.batching``) scores their
images together, one copy of the hash indexes and one database pool. That is how the
service runs audits too; a process pool would hold one model and one index copy per
process and lose the cross-image batching.
"""

from __future__ import annotations

import glob
import json
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.errors import ProvauditError

if TYPE_CHECKING:
    from service.pipeline import AuditPipeline

AUDIT_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".heic", ".heif", ".avif"}
)
"""What a folder is searched for: the image formats the pipeline reads (PDFs are refused)."""

_GLOB_CHARACTERS = frozenset("*?[")


@dataclass
class FileError:
    path: str
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "error": {"code": self.code, "message": self.message}}


@dataclass
class Inputs:
    """The files named on the command line, expanded; what could not be, as errors."""

    files: list[str] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    skipped: int = 0
    """Files inside named folders that are not images by their suffix (not errors)."""


def expand_inputs(arguments: Iterable[str]) -> Inputs:
    """Files as named; folders searched recursively for images (hidden entries left
    out); a pattern a shell did not expand (``'photos/**/*.jpg'``) expanded here; a
    ``.parquet`` file read as a list of paths (its ``path`` column). Each file once, in
    the order named, a folder's files sorted."""
    inputs = Inputs()
    seen: set[str] = set()

    def add(path: Path) -> None:
        key = str(path)
        if key not in seen:
            seen.add(key)
            inputs.files.append(key)

    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            for found, is_image in _folder_files(path):
                if is_image:
                    add(found)
                else:
                    inputs.skipped += 1
        elif path.suffix.lower() == ".parquet" and path.is_file():
            for found in read_path_list(path):
                add(Path(found))
        elif path.exists() or not _GLOB_CHARACTERS & set(argument):
            add(path)  # a missing file is reported by audit_file, in its place
        else:
            matched = sorted(glob.glob(argument, recursive=True))
            files = [Path(name) for name in matched if Path(name).is_file()]
            if not files:
                inputs.errors.append(
                    FileError(argument, "not_found", f"No file matches {argument}.")
                )
            for found in files:
                add(found)
    return inputs


def read_path_list(path: Path) -> list[str]:
    """A Parquet file's ``path`` column: a list of files to audit (a bucket's listing)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ProvauditError(
            f"{path}: a Parquet list of paths needs pyarrow: pip install 'provaudit[ray]'."
        ) from None
    try:
        table = pq.read_table(path, columns=["path"])
    except (OSError, KeyError, ValueError) as exc:
        raise ProvauditError(f"{path} is not a Parquet list of paths ({exc}).") from None
    return [str(name) for name in table["path"].to_pylist() if name]


def _folder_files(root: Path) -> Iterator[tuple[Path, bool]]:
    for path in sorted(root.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if path.is_file():
            yield path, path.suffix.lower() in AUDIT_SUFFIXES


@dataclass
class FileAudit:
    """One file's outcome: the audit's JSON, or why there is none."""

    path: str
    result: dict[str, Any] | None = None
    error: FileError | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return self.error.to_dict()
        return {"path": self.path, **(self.result or {})}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, default=str)

    @classmethod
    def from_json(cls, text: str) -> FileAudit:
        data = json.loads(text)
        path = data.pop("path")
        if "error" in data and "verdict" not in data:
            error = data["error"]
            return cls(path, error=FileError(path, error["code"], error["message"]))
        return cls(path, result=data)

    @property
    def verdict(self) -> str | None:
        return self.result["verdict"] if self.result else None

    @property
    def state(self) -> str:
        if self.result is None:
            return "error"
        return str(self.result["provenance"]["state"])


def audit_file(pipeline: AuditPipeline, path: str) -> FileAudit:
    """What ``POST /v1/audit`` answers for this file's bytes under its name, as a dict
    that JSON round-trips unchanged (the service stores and returns it as JSON)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return FileAudit(path, error=FileError(path, "not_found", f"{path} does not exist."))
    except IsADirectoryError:
        return FileAudit(path, error=FileError(path, "invalid_input", f"{path} is a folder."))
    except OSError as exc:
        message = f"{path} cannot be read ({exc.strerror or exc})."
        return FileAudit(path, error=FileError(path, "unreadable", message))
    try:
        result = pipeline.audit(data, Path(path).name)
    except ProvauditError as exc:
        return FileAudit(path, error=FileError(path, exc.code, f"{path}: {exc}"))
    except Exception as exc:  # a decoder bug on one hostile file must not stop the batch
        message = f"{path} cannot be audited ({type(exc).__name__}: {exc})."
        return FileAudit(path, error=FileError(path, "internal_error", message))
    return FileAudit(path, result=json.loads(json.dumps(result.to_dict(), default=str)))


def audit_local(
    pipeline: AuditPipeline, paths: Iterable[str], workers: int = 8
) -> Iterator[FileAudit]:
    """``audit_file`` over ``paths`` on ``workers`` threads, in input order, with at most
    a few files per thread in flight (a million paths never become a million futures)."""
    if workers <= 1:
        for path in paths:
            yield audit_file(pipeline, path)
        return
    window: deque[Future[FileAudit]] = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="audit") as pool:
        for path in paths:
            window.append(pool.submit(audit_file, pipeline, path))
            if len(window) >= 4 * workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


@dataclass
class Tally:
    """Counts for the closing summary and the exit status."""

    states: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    skipped: int = 0

    def add(self, audit: FileAudit) -> None:
        self.states[audit.state] += 1
        if audit.error is not None:
            self.errors += 1
        else:
            self.verdicts[str(audit.verdict)] += 1

    @property
    def audited(self) -> int:
        return sum(self.verdicts.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "audited": self.audited,
            "errors": self.errors,
            "skipped_not_images": self.skipped,
            "provenance": dict(sorted(self.states.items())),
            "verdicts": dict(sorted(self.verdicts.items())),
        }
