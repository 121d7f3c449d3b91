"""Hash banks, lookups and soft-binding resolution against a real uvicorn server."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import c2pa
import httpx
import pytest
from PIL import Image

from tests import servers
from tests.conftest import encode, make_image
from tests.servers import Server, stop_server

API_KEY = "bank-key-456"
PDQ = Path(__file__).resolve().parent / "fixtures" / "pdq"
ORIGINAL = PDQ / "bridge-mods" / "aaa-orig.jpg"
ORIGINAL_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
WRITE = {"X-API-Key": API_KEY}


def start_server(home: Path, **env: str) -> Server:
    return servers.start_server(home, API_KEY, **env)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("bank-service"))
    yield running
    stop_server(running)


def _file(path_or_bytes: Path | bytes, name: str = "image.jpg", kind: str = "image/jpeg") -> dict:
    data = path_or_bytes.read_bytes() if isinstance(path_or_bytes, Path) else path_or_bytes
    return {"file": (name, data, kind)}


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    error = response.json()["error"]
    assert error["code"] == code, error
    return error["message"]


def test_banks_are_created_listed_and_tuned(server):
    with server.client() as client:
        created = client.post(
            "/v1/banks",
            json={"name": "TUNED", "pdq_threshold": 20, "description": "test bank"},
            headers=WRITE,
        )
        assert created.status_code == 201, created.text
        assert created.json()["pdq_threshold"] == 20 and created.json()["phash_threshold"] == 10
        _error(client.post("/v1/banks", json={"name": "TUNED"}, headers=WRITE), 409, "duplicate")
        _error(client.post("/v1/banks", json={"name": "TUNED2"}), 401, "invalid_api_key")
        _error(
            client.post("/v1/banks", json={"name": "bad name!"}, headers=WRITE), 422, "bad_input"
        )
        _error(
            client.post("/v1/banks", json={"name": "X", "pdq_threshold": 99}, headers=WRITE),
            422,
            "invalid_request",
        )
        names = [bank["name"] for bank in client.get("/v1/banks").json()["banks"]]
        assert "TUNED" in names
        assert client.get("/v1/banks/TUNED").json()["content_count"] == 0
        _error(client.get("/v1/banks/NOPE"), 404, "not_found")
        patched = client.patch("/v1/banks/TUNED", json={"pdq_threshold": 25}, headers=WRITE)
        assert patched.json()["pdq_threshold"] == 25
        _error(client.patch("/v1/banks/TUNED", json={"pdq_threshold": 25}), 401, "invalid_api_key")


def test_content_by_upload_and_hash_then_lookups(server):
    with server.client() as client:
        client.post("/v1/banks", json={"name": "KNOWN"}, headers=WRITE)
        added = client.post("/v1/banks/KNOWN/content", files=_file(ORIGINAL), headers=WRITE)
        assert added.status_code == 201, added.text
        content = added.json()
        assert content["pdq"] == ORIGINAL_PDQ and content["source"] == "upload"
        message = _error(
            client.post("/v1/banks/KNOWN/content", files=_file(ORIGINAL), headers=WRITE),
            409,
            "duplicate",
        )
        assert f"bank_content_id {content['bank_content_id']}" in message
        by_hash = client.post(
            "/v1/banks/KNOWN/content",
            json={"pdq": "ab" * 32, "metadata": {"case": 7}},
            headers=WRITE,
        )
        assert by_hash.status_code == 201 and by_hash.json()["metadata"] == {"case": 7}

        # Lookup by hash (GET), by image (POST multipart: a rotated copy), and in a batch.
        found = client.get("/v1/lookup", params={"pdq": ORIGINAL_PDQ}).json()
        assert found == {
            "KNOWN": [
                {
                    "bank_content_id": content["bank_content_id"],
                    "distance": 0,
                    "signal": "pdq",
                    "variant": "original",
                    "metadata": None,
                }
            ]
        }
        rotated = client.post("/v1/lookup", files=_file(PDQ / "dih" / "bridge-2-rotate-90.jpg"))
        assert rotated.json()["KNOWN"][0]["variant"] == "rotate-270"
        edited = client.post("/v1/lookup", files=_file(PDQ / "bridge-mods" / "blur-a-lot.jpg"))
        assert edited.json()["KNOWN"][0]["distance"] == 4
        batch = client.post(
            "/v1/lookup",
            json={"queries": [{"pdq": "ab" * 32}, {"pdq": "00" * 32}, {"pdq": ORIGINAL_PDQ}]},
        ).json()["results"]
        assert [list(result) for result in batch] == [["KNOWN"], [], ["KNOWN"]]
        client.post("/v1/banks", json={"name": "OTHER"}, headers=WRITE)
        assert (
            client.post("/v1/lookup", json={"pdq": ORIGINAL_PDQ, "banks": ["OTHER"]}).json() == {}
        )
        _error(
            client.get("/v1/lookup", params={"pdq": ORIGINAL_PDQ, "bank": "NOPE"}), 404, "not_found"
        )

        got = client.get(f"/v1/banks/KNOWN/content/{content['bank_content_id']}").json()
        assert got["pdq"] == ORIGINAL_PDQ
        _error(client.get("/v1/banks/KNOWN/content/999999"), 404, "not_found")

        status = client.get("/v1/index/status").json()
        assert status["in_sync"] is True
        assert status["indexes"]["content-pdq"]["size"] == status["bank_content"]


def _bad_additions() -> dict[str, tuple[dict, int, str]]:
    flat = (PDQ / "labelme-subset" / "q0003.jpg").read_bytes()
    return {
        "pdq too short": ({"json": {"pdq": "abc"}}, 422, "bad_input"),
        "pdq not hex": ({"json": {"pdq": "z" * 64}}, 422, "bad_input"),
        "phash wrong length": ({"json": {"phash": "abcd"}}, 422, "bad_input"),
        "no hash at all": ({"json": {}}, 422, "bad_input"),
        "unknown field": ({"json": {"pdq": ORIGINAL_PDQ, "x": 1}}, 422, "invalid_request"),
        "not json": (
            {"content": b"{nope", "headers": {"content-type": "application/json"}},
            422,
            "invalid_json",
        ),
        "quality below 50": (
            {"json": {"pdq": "cd" * 32, "pdq_quality": 12}},
            422,
            "image_too_flat",
        ),
        "flat photo": ({"files": _file(flat, "flat.jpg")}, 422, "image_too_flat"),
        "tiny image": (
            {"files": _file(encode(make_image((3, 3)), "PNG"), "t.png", "image/png")},
            422,
            "image_too_flat",
        ),
        "text upload": ({"files": _file(b"hello there", "x.jpg")}, 415, "unsupported_format"),
        # The hardening campaign's 500s, each now a 4xx.
        "raw jpeg body": (
            {"content": ORIGINAL.read_bytes(), "headers": {"content-type": "image/jpeg"}},
            415,
            "unsupported_media_type",
        ),
        "json nested 1000 deep": (
            {"content": b"[" * 1000 + b"]" * 1000, "headers": {"content-type": "application/json"}},
            422,
            "invalid_json",
        ),
        "json not utf-8": (
            {"content": b'{"pdq": "\xff\xfe"}', "headers": {"content-type": "application/json"}},
            422,
            "invalid_json",
        ),
        "metadata nested 1000 deep": (
            {"files": _file(ORIGINAL), "data": {"metadata": "[" * 1000 + "]" * 1000}},
            422,
            "invalid_json",
        ),
        "empty upload": ({"files": _file(b"", "x.jpg")}, 422, "empty_file"),
    }


@pytest.mark.parametrize("case", list(_bad_additions()))
def test_bad_additions_are_clear_4xx_and_add_nothing(server, case):
    request, status, code = _bad_additions()[case]
    with server.client() as client:
        client.post("/v1/banks", json={"name": "STRICTINPUT"}, headers=WRITE)
        headers = {**WRITE, **request.pop("headers", {})}
        response = client.post("/v1/banks/STRICTINPUT/content", headers=headers, **request)
        _error(response, status, code)
        assert client.get("/v1/banks/STRICTINPUT").json()["content_count"] == 0
        unknown = client.post("/v1/banks/NOPE/content", json={"pdq": ORIGINAL_PDQ}, headers=WRITE)
        _error(unknown, 404, "not_found")
        assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"pdq": "12"}, "bad_input"),
        ({"phash": "x" * 16}, "bad_input"),
        ({}, "bad_input"),
    ],
)
def test_bad_lookups_are_4xx(server, params, code):
    with server.client() as client:
        _error(client.get("/v1/lookup", params=params), 422, code)
        _error(client.post("/v1/lookup", json=params), 422, code)
    with server.client() as client:
        _error(
            client.post("/v1/lookup", files=_file(PDQ / "misc" / "small.jpg")),
            422,
            "image_too_flat",
        )
        _error(client.post("/v1/lookup", json={"queries": [{}] * 1001}), 422, "batch_too_large")
        raw = {"content": ORIGINAL.read_bytes(), "headers": {"content-type": "image/jpeg"}}
        _error(client.post("/v1/lookup", **raw), 415, "unsupported_media_type")
        deep = {"content": b'{"a":' * 1000 + b"1" + b"}" * 1000}
        _error(client.post("/v1/lookup", **deep), 422, "invalid_json")


@pytest.mark.parametrize("content_id", ["9223372036854775808", "0", "-1"])
def test_a_content_id_out_of_range_is_a_4xx(server, content_id):
    with server.client() as client:
        client.post("/v1/banks", json={"name": "RANGE"}, headers=WRITE)
        response = client.get(f"/v1/banks/RANGE/content/{content_id}")
    _error(response, 422, "invalid_request")


def test_hash_endpoint(server):
    with server.client() as client:
        plain = client.post("/v1/hash", files=_file(ORIGINAL)).json()
        assert plain == {
            "pdq": ORIGINAL_PDQ,
            "pdq_quality": 100,
            "phash": "aca29c1c33dc23d7",
            "pdq_usable": True,
        }
        rotations = client.post("/v1/hash?dihedral=true", files=_file(ORIGINAL)).json()["dihedral"]
        assert [entry["variant"] for entry in rotations][:2] == ["original", "rotate-90"]
        assert rotations[0]["pdq"] == ORIGINAL_PDQ
        small = client.post("/v1/hash", files=_file(PDQ / "misc" / "small.jpg")).json()
        assert small["pdq_quality"] == 0 and small["pdq_usable"] is False
        _error(client.post("/v1/hash", files=_file(b"not an image")), 415, "unsupported_format")


def test_signed_then_stripped_copy_is_traced_back(server):
    """Sign on the service, strip (JPEG q80, 0.75x), audit: the original manifest is found."""
    photo = Image.open(ORIGINAL).convert("RGB").resize((640, 402))
    with server.client() as client:
        signed = client.post(
            "/v1/sign",
            files=_file(encode(photo, "JPEG", quality=95)),
            data={"ai_generated": "true", "family": "diffusion", "title": "bridge"},
            headers=WRITE,
        )
        assert signed.status_code == 200, signed.text
        with c2pa.Reader("image/jpeg", io.BytesIO(signed.content)) as reader:
            store = json.loads(reader.json())
        manifest_id = store["active_manifest"]
        assertions = store["manifests"][manifest_id]["assertions"]
        binding = next(a for a in assertions if a["label"] == "c2pa.soft-binding")["data"]

        copy = Image.open(io.BytesIO(signed.content)).convert("RGB").resize((480, 302))
        stripped = encode(copy, "JPEG", quality=80)
        audit = client.post("/v1/audit", files=_file(stripped, "stripped.jpg")).json()
        assert audit["provenance"]["state"] == "absent"
        recovered = [m for m in audit["matches"] if m["kind"] == "manifest"]
        assert recovered[0]["manifest_id"] == manifest_id
        assert recovered[0]["ai_declared"] is True
        assert recovered[0]["generator"] == {"family": "diffusion"}
        assert recovered[0]["distance"] <= 31
        assert any(
            reason.startswith(f"No manifest in the file; matches manifest {manifest_id} signed on")
            and "by provaudit development signer at distance" in reason
            for reason in audit["reasons"]
        ), audit["reasons"]
        # The intact original is audited on its own manifest: no recovery is attempted.
        original = client.post("/v1/audit", files=_file(signed.content)).json()
        assert original["provenance"]["state"] == "valid"
        assert not [m for m in original["matches"] if m["kind"] == "manifest"]

        # The C2PA soft-binding resolution shape: by content (raw body and multipart)...
        for request in (
            {"content": stripped, "headers": {"content-type": "image/jpeg"}},
            {"files": _file(stripped)},
        ):
            matches = client.post("/v1/matches/byContent", **request).json()["matches"]
            assert matches[0]["manifestId"] == manifest_id
            assert matches[0]["endpoint"] == f"{server.url}/v1"
            assert 85 <= matches[0]["similarityScore"] <= 100
        # ...by binding (the value in the manifest, and its hex)...
        by_binding = client.get(
            "/v1/matches/byBinding",
            params={"alg": binding["alg"], "value": binding["blocks"][0]["value"]},
        ).json()["matches"]
        assert by_binding[0] == {
            "manifestId": manifest_id,
            "endpoint": f"{server.url}/v1",
            "similarityScore": 100.0,
            "distance": 0,
            "signal": "pdq",
            "variant": "original",
        }
        hex_value = base64.b64decode(binding["blocks"][0]["value"]).hex()
        assert (
            client.get(
                "/v1/matches/byBinding", params={"alg": "org.provaudit.pdq", "value": hex_value}
            ).json()["matches"][0]["manifestId"]
            == manifest_id
        )
        # ...and the manifest store itself, which c2pa reads as a sidecar.
        fetched = client.get(f"/v1/manifests/{manifest_id}")
        assert fetched.headers["content-type"] == "application/c2pa"
        with c2pa.Reader("application/c2pa", io.BytesIO(fetched.content)) as reader:
            assert json.loads(reader.json())["active_manifest"] == manifest_id
        _error(client.get("/v1/manifests/urn:c2pa:unknown"), 404, "not_found")
        _error(
            client.get("/v1/matches/byBinding", params={"alg": "com.example.x", "value": "AA=="}),
            400,
            "unsupported_algorithm",
        )
        _error(
            client.get(
                "/v1/matches/byBinding", params={"alg": "org.provaudit.pdq", "value": "AA=="}
            ),
            422,
            "bad_input",
        )
        _error(client.post("/v1/matches/byContent", content=b""), 422, "empty_file")
        assert client.get("/v1/services/supportedAlgorithms").json() == {
            "watermarks": [{"alg": "org.provaudit.dwtdct"}],
            "fingerprints": [
                {"alg": "org.provaudit.pdq"},
                {"alg": "org.provaudit.phash"},
                {"alg": "io.iscc.v0"},
            ],
        }


def test_iscc_soft_binding_resolves_a_stripped_copy(server):
    """io.iscc.v0 (on the C2PA soft binding list): signed in, listed, and resolved by
    content and by the value in the manifest, as a resolution API client does."""
    from provenance.iscc import ISCC_MATCH_DISTANCE, image_code_of_bytes, unit

    source = encode(make_image((640, 400), seed=41), "JPEG", quality=95)
    with server.client() as client:
        signed = client.post("/v1/sign", files=_file(source), headers=WRITE)
        assert signed.status_code == 200, signed.text
        with c2pa.Reader("image/jpeg", io.BytesIO(signed.content)) as reader:
            store = json.loads(reader.json())
        manifest_id = store["active_manifest"]
        (binding,) = [
            a["data"]
            for a in store["manifests"][manifest_id]["assertions"]
            if a["label"] == "c2pa.soft-binding" and a["data"]["alg"] == "io.iscc.v0"
        ]
        value = binding["blocks"][0]["value"]
        assert {"alg": "io.iscc.v0"} in client.get("/v1/services/supportedAlgorithms").json()[
            "fingerprints"
        ]

        copy = Image.open(io.BytesIO(signed.content)).convert("RGB").resize((480, 300))
        stripped = encode(copy, "JPEG", quality=75)
        found = client.post(
            "/v1/matches/byContent",
            params={"alg": "io.iscc.v0"},
            content=stripped,
            headers={"content-type": "image/jpeg"},
        )
        assert found.status_code == 200, found.text
        (match,) = found.json()["matches"]  # the bridge signed above is far from it
        assert (match["manifestId"], match["signal"]) == (manifest_id, "iscc")
        assert 0 < match["distance"] <= ISCC_MATCH_DISTANCE
        assert match["similarityScore"] == round(100 * (256 - match["distance"]) / 256, 2)
        # Without alg every algorithm is tried and the manifest comes once, by PDQ.
        every = client.post("/v1/matches/byContent", files=_file(stripped)).json()["matches"]
        assert [(m["manifestId"], m["signal"]) for m in every] == [(manifest_id, "pdq")]

        for given in (value, unit(image_code_of_bytes(source))):
            by_binding = client.get(
                "/v1/matches/byBinding", params={"alg": "io.iscc.v0", "value": given}
            )
            assert by_binding.json()["matches"] == [
                {
                    "manifestId": manifest_id,
                    "endpoint": f"{server.url}/v1",
                    "similarityScore": 100.0,
                    "distance": 0,
                    "signal": "iscc",
                    "variant": "original",
                }
            ], by_binding.text
        pdq_value = next(
            a["data"]["blocks"][0]["value"]
            for a in store["manifests"][manifest_id]["assertions"]
            if a["label"] == "c2pa.soft-binding" and a["data"]["alg"] == "org.provaudit.pdq"
        )
        message = _error(
            client.get("/v1/matches/byBinding", params={"alg": "io.iscc.v0", "value": pdq_value}),
            422,
            "bad_input",
        )
        assert "ISCC-SEQ" in message


def test_audit_reports_bank_matches(server):
    with server.client() as client:
        client.post("/v1/banks", json={"name": "AUDITED"}, headers=WRITE)
        image = encode(make_image((320, 240), seed=21), "PNG")
        added = client.post(
            "/v1/banks/AUDITED/content", files=_file(image, "x.png", "image/png"), headers=WRITE
        ).json()
        copy = encode(Image.open(io.BytesIO(image)).convert("RGB"), "JPEG", quality=70)
        audit = client.post("/v1/audit", files=_file(copy)).json()
        banks = [m for m in audit["matches"] if m["kind"] == "bank" and m["bank"] == "AUDITED"]
        assert banks and banks[0]["bank_content_id"] == added["bank_content_id"]
        assert any("hash bank AUDITED at distance" in reason for reason in audit["reasons"])
