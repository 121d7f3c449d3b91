"""``provaudit serve`` as a user runs it: a real uvicorn process on a free port."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


@dataclass
class Server:
    url: str
    home: Path
    process: subprocess.Popen

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)

    def audit_rows(self) -> int:
        with sqlite3.connect(self.home / "provaudit.db") as db:
            return db.execute("select count(*) from audits").fetchone()[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path, api_key: str, **env: str) -> Server:
    """Start the service with its data in ``home``; returns once ``/readyz`` answers 200."""
    port = free_port()
    environment = dict(
        os.environ,
        PROVAUDIT_HOME=str(home),
        PROVAUDIT_DATA_DIR=str(home),
        PROVAUDIT_API_KEYS=f'["{api_key}"]',
        **env,
    )
    environment.pop("PROVAUDIT_DATABASE_URL", None)
    command = [sys.executable, "-m", "provenance", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--log-level", "warning"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    # Generous: CI machines are slow and may be busy while the models load.
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return Server(url, home, process)
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output = process.stdout.read().decode()[-3000:] if process.stdout else ""
            pytest.fail(f"server did not start: {output}")
        time.sleep(0.2)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)
