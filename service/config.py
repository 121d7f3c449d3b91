"""Service settings from the environment (prefix ``PROVAUDIT_``), read once."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    from provenance.keys import default_identity_dir

    return default_identity_dir().parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROVAUDIT_", env_file=None, extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    """Where the SQLite database and the development identity live."""
    database_url: str | None = None
    """SQLAlchemy URL; default ``sqlite:///<data_dir>/provaudit.db``."""
    api_keys: list[SecretStr] = Field(default_factory=list)
    """Keys accepted in ``X-API-Key`` for sign, generate and writes (JSON list in the env)."""
    protect_reads: bool = False
    """Also require an API key for read endpoints (audit, verify, lookups)."""
    max_upload_bytes: int = 20 * 1024 * 1024
    max_concurrent_uploads: int = 2
    """Uploads decoded and analysed at once (the others wait their turn): bounds memory."""
    body_read_timeout_s: float = 10.0
    """How long a request body may stall before the request is answered 408."""
    processing_timeout_s: float = 20.0
    """Upper bound on decoding + analysis of one upload, off the event loop."""
    trust_anchors: list[Path] = Field(default_factory=list)
    """PEM files of trust anchors for verification, beside the trust list."""
    trust_list: Literal["c2pa", "none"] = "c2pa"
    """The shipped C2PA trust list (with anchors added by ``provaudit trust add``), or none."""
    detector: Path | None = None
    """Detector checkpoint directory with its ONNX export; default: the bundled one."""
    generators_dir: Path = Field(
        default_factory=lambda: Path(__file__).resolve().parents[1] / "generators" / "weights"
    )
    """Folder of generator checkpoints (``gan``, ``vae``, ``diffusion``) for /v1/generate."""
    generate_timeout_s: float = 60.0
    """Upper bound on one /v1/generate call (diffusion is the slow one), off the event loop."""
    trust_dev_identity: bool = False
    """Opt in: make the development identity's root a trust anchor, so the dev server's own
    output reads ``trusted``. Off by default, as in ``provaudit verify``: the same file
    reads the same everywhere (``valid``, flagged as a development signer)."""
    reports_root: Path | None = None
    """Server folder that POST /v1/reports may read datasets from; unset: reports are off."""
    report_workers: int = 1
    """Bias reports run at the same time (each is CPU-bound; the rest wait in the queue)."""
    hash_index_dir: Path | None = None
    """Where the hash banks' FAISS indexes are saved; default beside the SQLite file."""
    hash_index_autosave_s: float = 300.0
    """How often changed hash indexes are saved (they are rebuilt from the registry anyway)."""
    record_signatures: bool = True
    """Record what /v1/sign signs (manifest + fingerprints) for soft-binding recovery."""
    action_max_attempts: int = Field(5, ge=1, le=20)
    """POSTs of one bank match to its bank's webhook before it is marked failed."""
    action_backoff_s: float = Field(1.0, ge=0.0, le=300.0)
    """Wait after a webhook's first failed attempt; each later one doubles it."""
    action_max_backoff_s: float = Field(30.0, ge=0.0, le=3600.0)
    """The longest wait between two attempts of one delivery."""
    action_timeout_s: float = Field(5.0, gt=0.0, le=60.0)
    """How long one webhook POST may take before it counts as failed."""
    action_senders: int = Field(4, ge=1, le=64)
    """Webhook POSTs under way at once."""

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'provaudit.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
