"""Where provaudit keeps its data: the data directory, the registry URL, the saved indexes.

Read from the environment (``PROVAUDIT_DATA_DIR``, ``PROVAUDIT_DATABASE_URL``), so the CLI
and a running service find the same registry.
"""

from __future__ import annotations

import os
from pathlib import Path


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
