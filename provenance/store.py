"""The fingerprint store: one registry, its index cache, and the jobs done over them.

``banks`` (moderation hash banks, ``provenance.hashbank``) and ``manifests`` (recovery of
the manifests provaudit signed, ``provenance.recovery``) share the database and the
indexes; ``actions`` (what to do on a bank match, ``provenance.bankactions``) shares the
database. This object owns their life cycle; it is what the CLI (``provaudit bank``,
``verify --recover``, ``sign``) and the service open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provenance.bankactions import BankActions
from provenance.hashbank import HashBank
from provenance.indexcache import IndexCache
from provenance.locations import default_index_dir, default_registry_url
from provenance.recovery import ManifestRecovery
from provenance.registry import Registry


class FingerprintStore:
    def __init__(self, registry: Registry, index_dir: Path | None = None) -> None:
        self.registry = registry
        self.indexes = IndexCache(registry, index_dir)
        self.banks = HashBank(registry, self.indexes)
        self.manifests = ManifestRecovery(registry, self.indexes)
        self.actions = BankActions(registry)

    @classmethod
    def open(cls, url: str | None = None, index_dir: Path | None = None) -> FingerprintStore:
        """The registry at ``url`` (default: the one the service uses) with saved indexes."""
        url = url or default_registry_url()
        return cls(Registry(url), index_dir or default_index_dir(url))

    def open_indexes(self) -> None:
        self.indexes.open()

    def start_autosave(self, interval_s: float = 300.0) -> None:
        self.indexes.start_autosave(interval_s)

    def status(self) -> dict[str, Any]:
        """Counts, and each index against the registry (repaired where they disagree)."""
        indexes = self.indexes.status()
        return {
            "registry": self.registry.url,
            "registry_id": self.registry.registry_id,
            "index_dir": indexes.pop("index_dir"),
            "banks": len(self.registry.banks()),
            "bank_content": self.registry.content_count(),
            "manifests": self.registry.manifest_count(),
            **indexes,
        }

    def close(self, *, save: bool = True) -> None:
        self.indexes.close(save=save)
        self.registry.close()
