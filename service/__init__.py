"""The provaudit moderation service: audit, verify and sign over HTTP (FastAPI)."""
