"""Schemathesis against the real server (a uvicorn process) and its /openapi.json, once
without an API key and once with it.

Every response is checked: no 5xx, only documented statuses, content types and bodies, and
schema-valid requests accepted (a 2xx, or 401/403/404/409 where the key, the resource or a
duplicate decides); without the key, no write is accepted. Generation is seeded and
derandomized, with a few examples per operation, so CI sees the same requests every run.

No operation is excluded; the slow ones are bounded instead:

- ``/v1/generate`` runs with a generators folder holding only the GAN and the VAE (each
  answers in well under a second); diffusion, which can take many seconds, is a 404 there.
- ``/v1/reports`` runs with reports off (no ``PROVAUDIT_REPORTS_ROOT``): every job request
  is a 403, so no bias report runs in the background.
- Uploads are small generated images (32-160 px) in each format the schema names but HEIF
  and PDF (only ``/v1/verify`` names those; none is generated): the schema says an upload
  is an image, and random bytes are not one.

The schema is built at collection (pytest parametrizes over its operations before the
server runs) from the same application, and checked to be the one the server serves.

Three rules OpenAPI cannot state across parameters are kept out of the generated valid
requests (``filter_case``); the operations' descriptions state them: ``GET /v1/lookup``
needs ``pdq`` or ``phash``, ``byBinding``'s ``value`` is one its ``alg`` reads (of the
length it says; for ``io.iscc.v0``, an ISCC-SEQ holding a Content-Code Image; for the
watermark, its 4-byte payload), and ``/v1/generate`` takes a prompt and a guidance scale
for ``text_diffusion`` only, which needs its prompt, and a class for a class-conditional gan
only (the folder here has none).

Schemathesis reports each operation as a subtest of its test function, and pytest-xdist
reports only the function: a failing operation would read as a pass. So this file refuses to
run on an xdist worker, and ``make test`` runs it on its own after the rest.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import schemathesis
from hypothesis import strategies as st
from PIL import Image

from provenance.errors import InputError
from provenance.softbinding import (
    ALGORITHMS,
    WATERMARK_ALG,
    decode_value,
    decode_watermark_value,
)
from service.config import Settings
from service.main import create_app
from tests.conftest import REPO_ROOT, encode
from tests.servers import Server, start_server, stop_server

if os.environ.get("PYTEST_XDIST_WORKER"):
    pytest.fail(
        "tests/test_schemathesis.py cannot run under pytest-xdist, which would report a failing "
        "operation as a pass; run it without -n (make test does).",
        pytrace=False,
    )

API_KEY = "schemathesis-key-789"
# A longer campaign: PROVAUDIT_SCHEMATHESIS_EXAMPLES=200 .venv/bin/pytest tests/test_schemathesis.py
EXAMPLES = int(os.environ.get("PROVAUDIT_SCHEMATHESIS_EXAMPLES", "6"))
SEED = 16
WRITES = {
    ("POST", "/v1/sign"),
    ("POST", "/v1/generate"),
    ("POST", "/v1/banks"),
    ("PATCH", "/v1/banks/{name}"),
    ("POST", "/v1/banks/{name}/content"),
    ("DELETE", "/v1/banks/{name}/content/{content_id}"),
    ("PUT", "/v1/banks/{name}/action"),
    ("GET", "/v1/banks/{name}/action"),
    ("DELETE", "/v1/banks/{name}/action"),
    ("GET", "/v1/banks/{name}/actions"),
    ("POST", "/v1/reports"),
}
"""The operations that need the key, as the schema must say (``security``)."""


def _picture(size: tuple[int, int], seed: int, fmt: str) -> bytes:
    """Random colour blocks, smoothly upscaled: enough detail for PDQ at any size here."""
    blocks = np.random.default_rng(seed).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return encode(Image.fromarray(blocks, "RGB").resize(size, Image.BILINEAR), fmt)


def _image(fmt: str) -> st.SearchStrategy[bytes]:
    sizes = st.tuples(st.integers(32, 160), st.integers(32, 160))
    return st.builds(_picture, sizes, st.integers(0, 2**16), st.just(fmt))


for _format in ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "AVIF"):
    schemathesis.openapi.media_type(f"image/{_format.lower()}", _image(_format))


def _config(**project: Any) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": EXAMPLES, "deterministic": True},
            "phases": {"stateful": {"enabled": False}},
            "request-timeout": 60,
            "checks": {
                "enabled": False,
                "not_a_server_error": {"enabled": True},
                "status_code_conformance": {"enabled": True},
                "content_type_conformance": {"enabled": True},
                "response_schema_conformance": {"enabled": True},
                "positive_data_acceptance": {"enabled": True},
            },
            **project,
        }
    )


def _breaks_a_cross_parameter_rule(case: schemathesis.Case) -> bool:
    query = case.query or {}
    if case.operation.path == "/v1/lookup" and case.method.upper() == "GET":
        return not (query.get("pdq") or query.get("phash"))
    if case.operation.path == "/v1/generate" and isinstance(case.body, dict):
        # No class-conditional gan is in the test's generators folder: a class is never valid.
        if case.body.get("class") is not None:
            return True
        conditioned = case.body.get("prompt") is not None or case.body.get("guidance") is not None
        if case.body.get("family") == "text_diffusion":
            return case.body.get("prompt") is None
        return conditioned
    if case.operation.path == "/v1/matches/byBinding":
        alg, value = query.get("alg"), query.get("value")
        if isinstance(value, str) and alg in (*ALGORITHMS, WATERMARK_ALG):
            try:
                if alg == WATERMARK_ALG:
                    decode_watermark_value(value)
                else:
                    decode_value(alg, value)
            except InputError:
                return True
    return False


OPENAPI = create_app(Settings()).openapi()


def _load(config: schemathesis.Config) -> Any:
    schema = schemathesis.openapi.from_dict(OPENAPI, config=config)

    @schema.hook
    def filter_case(context: schemathesis.HookContext, case: schemathesis.Case) -> bool:
        positive = case.meta is None or case.meta.generation.mode.is_positive
        return not (positive and _breaks_a_cross_parameter_rule(case))

    return schema


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    generators = tmp_path_factory.mktemp("generators")
    for family in ("gan", "vae"):
        (generators / family).symlink_to(REPO_ROOT / "generators" / "weights" / family)
    running = start_server(
        tmp_path_factory.mktemp("schemathesis"),
        API_KEY,
        PROVAUDIT_GENERATORS_DIR=str(generators),
    )
    yield running
    stop_server(running)


def no_write_without_a_key(ctx: Any, response: schemathesis.Response, case: schemathesis.Case):
    if (case.method.upper(), case.operation.path) in WRITES and response.status_code < 300:
        raise AssertionError(
            f"{case.method} {case.formatted_path} answered {response.status_code} without a key."
        )


anonymous = _load(_config())
keyed = _load(_config(headers={"X-API-Key": API_KEY}))


def test_the_server_serves_the_schema_under_test(server):
    assert httpx.get(f"{server.url}/openapi.json").json() == OPENAPI


def test_the_schema_marks_the_writes():
    paths = OPENAPI["paths"]
    secured = {
        (method.upper(), path)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if operation.get("security")
    }
    assert secured == WRITES


@anonymous.parametrize()
def test_without_a_key(case, server):
    case.call_and_validate(base_url=server.url, additional_checks=[no_write_without_a_key])


def test_nothing_was_written_without_a_key(server):
    # Runs after test_without_a_key and before test_with_the_key (file order).
    with server.client() as client:
        assert client.get("/v1/banks").json() == {"banks": []}
        status = client.get("/v1/index/status").json()
    assert (status["banks"], status["bank_content"], status["manifests"]) == (0, 0, 0), status


@keyed.parametrize()
def test_with_the_key(case, server):
    case.call_and_validate(base_url=server.url)
