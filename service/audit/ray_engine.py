"""``provaudit audit --engine ray``: :func:`~service.audit.batch.audit_file` as a Ray Data map.

The paths (the local engine's expansion of the command line, so both engines audit the
same files) become a Ray dataset; ``map_batches`` hands them to :class:`RayAuditor`
actors, each of which opens the service's pipeline once (c2pa context, onnxruntime
session, hash indexes: none of them picklable, all costly) and maps a batch of paths to
the JSON lines ``--json`` prints. Results stream back in input order to the driver,
which writes them and keeps the summary. It joins the cluster named by ``RAY_ADDRESS``
when set (the files and the registry must then be reachable from every node: a shared
filesystem, a PostgreSQL registry), else starts a small Ray on this machine and stops it
at the end.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from provenance.errors import ProvauditError
from service.audit.batch import FileAudit, audit_file

if TYPE_CHECKING:
    from service.config import Settings

OBJECT_STORE_BYTES = 256 << 20
"""A local Ray's shared memory: batches of paths and of JSON results are small, and the
default (30% of RAM) would take from the memory the actors' models and decodes need."""


class RayAuditor:
    """Callable over ``{"index": [...], "path": [...]}`` batches; one pipeline per actor."""

    def __init__(self, settings: Settings) -> None:
        from service.audit.setup import open_pipeline

        self.pipeline = open_pipeline(settings)

    def __call__(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        paths = [str(path) for path in batch["path"]]
        lines = [audit_file(self.pipeline, path).to_json() for path in paths]
        return {
            "index": np.asarray(batch["index"], dtype=np.int64),
            "json": np.array(lines, dtype=object),
        }


def for_workers(settings: Settings) -> Settings:
    """Settings a worker on another node can use as they are: the development identity's
    root resolved here (a worker's ``PROVAUDIT_HOME`` may differ or be unset)."""
    from service.audit.setup import dev_root

    root = dev_root(settings)
    anchors = [*settings.trust_anchors, *([root] if root is not None else [])]
    return settings.model_copy(update={"trust_anchors": anchors, "trust_dev_identity": False})


def audit_ray(
    paths: Sequence[str],
    settings: Settings,
    *,
    workers: int = 1,
    batch_size: int = 16,
    init_kwargs: dict[str, Any] | None = None,
) -> Iterator[FileAudit]:
    """``audit_file`` over ``paths`` on ``workers`` Ray actors, yielded in input order."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise ProvauditError(
            "--engine ray needs Ray Data: pip install 'provaudit[ray]' (or 'ray[data]')."
        ) from None
    from service.audit.setup import open_fingerprint_store

    # Bring the saved hash indexes in line with the registry once, here, rather than in
    # every actor at the same time.
    open_fingerprint_store(settings.sqlalchemy_url, settings).close(save=False)
    started = False
    if not ray.is_initialized():
        # No network at run time: a Ray started here sends no usage statistics.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        options: dict[str, Any] = {
            "log_to_driver": False,
            "include_dashboard": False,
            "logging_level": logging.ERROR,
        }
        if not os.environ.get("RAY_ADDRESS"):
            options |= {"num_cpus": workers, "object_store_memory": OBJECT_STORE_BYTES}
        ray.init(**(options | (init_kwargs or {})))
        started = True
    try:
        # Ray Data's per-run INFO lines would mix with the command's own stderr.
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the command draws its own
        context.execution_options.preserve_order = True
        items = [{"index": index, "path": str(path)} for index, path in enumerate(paths)]
        mapped = ray.data.from_items(items).map_batches(
            RayAuditor,
            fn_constructor_kwargs={"settings": for_workers(settings)},
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers),
        )
        expected = 0
        for batch in mapped.iter_batches(batch_size=None, batch_format="numpy"):
            for index, line in zip(batch["index"], batch["json"], strict=True):
                if int(index) != expected:  # preserve_order is what keeps the output stable
                    raise ProvauditError(f"Ray returned result {index} where {expected} was due.")
                expected += 1
                yield FileAudit.from_json(str(line))
    finally:
        if started:
            ray.shutdown()
