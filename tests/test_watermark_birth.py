"""Generated images carry an invisible watermark whose payload is their manifest's ID in
the registry, declared in the manifest (``c2pa.watermarked.bound`` and an
``org.provaudit.dwtdct`` soft binding); ``verify --recover`` and ``/v1/audit`` read it
from a stripped copy before they fall back to fingerprints. Real c2pa, real SQLite, the
real CLI and a real server."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import pytest
from PIL import Image

from provenance.errors import InputError
from provenance.registry import DuplicateError, Registry
from provenance.signing import SignRequest
from provenance.softbinding import WATERMARK_ALG, decode_watermark_value
from provenance.watermark import WATERMARK_ALG as READER_ALG
from provenance.watermark import embed, read
from tests import servers
from tests.conftest import REPO_ROOT, encode, make_image

GAN = REPO_ROOT / "generators" / "weights" / "gan"
API_KEY = "watermark-key"


def _declared(report: dict) -> int:
    (value,) = [b["value"] for b in report["soft_bindings"] if b["alg"] == WATERMARK_ALG]
    return decode_watermark_value(value)


def _verify(run_cli, path: Path, *args: str) -> dict:
    result = run_cli("verify", path, "--json", *args)
    return json.loads(result.stdout.splitlines()[0])


def _lossless_strip(path: Path, out: Path) -> Path:
    Image.open(path).convert("RGB").save(out, format="PNG")
    return out


def test_generated_images_are_marked_declared_and_recovered_by_watermark(
    run_cli, tmp_path, provaudit_home
):
    result = run_cli("generate", "-c", GAN, "-n", "2", "-o", tmp_path / "ds")
    assert result.returncode == 0, result.stderr
    images = sorted((tmp_path / "ds" / "gan" / "1_fake").glob("*.png"))
    assert len(images) == 2
    registry = Registry(f"sqlite:///{provaudit_home / 'provaudit.db'}")
    payloads = []
    try:
        for number, path in enumerate(images):
            report = _verify(run_cli, path, "--trust-dev")
            assert report["state"] == "trusted", report["failure_codes"]
            assert [a["action"] for a in report["actions"]] == [
                "c2pa.created",
                "c2pa.watermarked.bound",
            ]
            declared = _declared(report)
            marked = read(Image.open(path))
            assert marked is not None and marked.payload == declared
            payloads.append(declared)
            info = registry.manifest_by_watermark(declared)
            assert info is not None and info.manifest_id == report["active_manifest"]

            stripped = _lossless_strip(path, tmp_path / f"stripped-{number}.png")
            recovered = _verify(run_cli, stripped, "--recover")
            assert recovered["state"] == "absent"
            first = recovered["recovered"][0]
            assert (first["signal"], first["distance"]) == ("watermark", 0)
            assert first["manifest_id"] == report["active_manifest"]
            text = run_cli("verify", stripped, "--recover").stdout
            assert f"its invisible watermark {declared} names manifest" in text
            assert "(watermark)" in text
    finally:
        registry.close()
    assert payloads[0] != payloads[1]


def test_no_record_still_marks_and_declares_a_random_id(run_cli, tmp_path, provaudit_home):
    result = run_cli("generate", "-c", GAN, "-n", "1", "-o", tmp_path / "ds", "--no-record")
    assert result.returncode == 0, result.stderr
    (path,) = (tmp_path / "ds" / "gan" / "1_fake").glob("*.png")
    report = _verify(run_cli, path, "--trust-dev")
    assert report["state"] == "trusted"
    assert "c2pa.watermarked.bound" in [a["action"] for a in report["actions"]]
    assert read(Image.open(path)).payload == _declared(report)
    assert not (provaudit_home / "provaudit.db").exists()


def test_the_watermark_alg_is_the_readers_and_requests_are_checked():
    assert WATERMARK_ALG == READER_ALG
    for bad in (-1, 1 << 32, True, "7"):
        with pytest.raises(InputError):
            SignRequest(ai_generated=True, watermark=bad)
    with pytest.raises(InputError, match="manifest definition"):
        SignRequest(manifest_definition={"assertions": []}, watermark=1)


def test_registry_allocates_unused_ids_and_keeps_them_unique(tmp_path):
    import datetime as dt

    registry = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    try:

        def record(watermark: int | None) -> None:
            registry.record_manifest(
                manifest_id=f"urn:c2pa:{uuid.uuid4()}",
                manifest_bytes=b"x",
                mime_type="image/png",
                asset_sha256="0" * 64,
                signed_at=dt.datetime.now(dt.timezone.utc),
                watermark=watermark,
            )

        record(None)
        record(None)  # unmarked manifests are not constrained
        record(7)
        with pytest.raises(DuplicateError, match="Watermark 7"):
            record(7)
        assert registry.manifest_by_watermark(7) is not None
        assert registry.manifest_by_watermark(8) is None
        fresh = {registry.unused_watermark() for _ in range(20)}
        assert 7 not in fresh and all(0 <= f < 1 << 32 for f in fresh)
    finally:
        registry.close()


@pytest.fixture
def marked_64(provaudit_home):
    """A 64 px image signed with a watermark (and one without) into the home's registry."""
    from provenance.keys import default_identity
    from provenance.signing import ProvenanceSigner
    from provenance.store import FingerprintStore

    identity, _ = default_identity()
    store = FingerprintStore.open(f"sqlite:///{provaudit_home / 'provaudit.db'}")
    signer = ProvenanceSigner(identity, recorder=store.manifests)
    try:
        payload = signer.new_watermark()
        image = embed(make_image((64, 64), seed=3), payload)
        marked = signer.sign(
            encode(image, "PNG"), SignRequest(ai_generated=True, watermark=payload)
        )
        plain = signer.sign(encode(make_image((256, 192), seed=5), "PNG"))
    finally:
        signer.close()
        store.close()
    return payload, marked, plain


def _jpeg_q75(data: bytes) -> bytes:
    return encode(Image.open(io.BytesIO(data)).convert("RGB"), "JPEG", quality=75)


def test_a_stripped_jpeg_q75_copy_of_a_64px_image_is_recovered_by_watermark(
    marked_64, run_cli, tmp_path, provaudit_home
):
    payload, marked, plain = marked_64
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(_jpeg_q75(marked.data))
    assert read(Image.open(copy)).payload == payload
    report = _verify(run_cli, copy, "--recover")
    first = report["recovered"][0]
    assert (first["signal"], first["distance"]) == ("watermark", 0)
    assert first["ai_declared"] is True

    unmarked = tmp_path / "unmarked.jpg"
    unmarked.write_bytes(_jpeg_q75(plain.data))
    fallback = _verify(run_cli, unmarked, "--recover")["recovered"]
    assert fallback and fallback[0]["signal"] == "pdq"

    server = servers.start_server(provaudit_home, API_KEY)
    try:
        with server.client() as client:
            audit = client.post(
                "/v1/audit", files={"file": ("copy.jpg", copy.read_bytes(), "image/jpeg")}
            ).json()
            match = audit["matches"][0]
            assert (match["kind"], match["signal"], match["distance"]) == (
                "manifest",
                "watermark",
                0,
            )
            assert match["manifest_id"] == first["manifest_id"]
            assert any(f"invisible watermark {payload}" in r for r in audit["reasons"])
            other = client.post(
                "/v1/audit", files={"file": ("u.jpg", unmarked.read_bytes(), "image/jpeg")}
            ).json()
            assert other["matches"][0]["signal"] == "pdq"
            assert not any("watermark" in r for r in other["reasons"])

            # The resolution API resolves the watermark like the fingerprints it lists.
            assert {"alg": WATERMARK_ALG} in client.get("/v1/services/supportedAlgorithms").json()[
                "watermarks"
            ]
            value = payload.to_bytes(4, "big").hex()
            by_binding = client.get(
                "/v1/matches/byBinding", params={"alg": WATERMARK_ALG, "value": value}
            ).json()["matches"]
            assert [m["manifestId"] for m in by_binding] == [first["manifest_id"]]
            for alg in (WATERMARK_ALG, None):
                found = client.post(
                    "/v1/matches/byContent",
                    params={"alg": alg} if alg else {},
                    content=copy.read_bytes(),
                    headers={"content-type": "image/jpeg"},
                ).json()["matches"]
                assert (found[0]["manifestId"], found[0]["signal"]) == (
                    first["manifest_id"],
                    "watermark",
                ), alg
            unknown = client.get(
                "/v1/matches/byBinding",
                params={"alg": WATERMARK_ALG, "value": (payload ^ 1).to_bytes(4, "big").hex()},
            )
            assert unknown.status_code == 200 and unknown.json()["matches"] == []
    finally:
        servers.stop_server(server)


def test_no_watermark_leaves_training_fakes_unmarked(run_cli, tmp_path):
    """Detector training data: real photos carry no mark, so the fakes must not either."""
    result = run_cli(
        "generate", "-c", GAN, "-n", "1", "-o", tmp_path / "ds", "--no-record", "--no-watermark"
    )
    assert result.returncode == 0, result.stderr
    (path,) = (tmp_path / "ds" / "gan" / "1_fake").glob("*.png")
    report = _verify(run_cli, path, "--trust-dev")
    assert report["state"] == "trusted"
    assert [a["action"] for a in report["actions"]] == ["c2pa.created"]
    assert WATERMARK_ALG not in {b["alg"] for b in report["soft_bindings"]}
    assert read(Image.open(path)) is None
