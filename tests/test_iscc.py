"""The ``io.iscc.v0`` soft binding: the ISCC Content-Code Image (iscc-core, iscc-sdk's
normalisation), its IEP-0020 value, the assertion signed into every image, its registry
record (SQLite, migrated), and recovery of a stripped copy by content and by value."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import c2pa
import iscc_core as ic
import pytest
from PIL import Image, ImageChops, ImageOps
from sqlalchemy import inspect

from provenance import iscc
from provenance.db import _alembic_config, head_revision, make_engine, schema_revision
from provenance.errors import InputError
from provenance.hashquery import HashQuery
from provenance.jumbf import active_manifest_label
from provenance.keys import default_identity
from provenance.media import decode_image
from provenance.registry import Registry
from provenance.signing import ProvenanceSigner, SignRequest
from provenance.softbinding import (
    ISCC_ALG,
    PDQ_ALG,
    decode_value,
    encode_value,
    read_soft_bindings,
)
from provenance.store import FingerprintStore
from provenance.verify import ProvenanceVerifier
from tests.conftest import encode, make_image

BRIDGE = Path(__file__).resolve().parent / "fixtures" / "pdq" / "bridge-mods" / "aaa-orig.jpg"
# iscc-core 1.5 on this file with iscc-sdk's normalisation, 256 bits (and as IEP-0020's value).
BRIDGE_ISCC = "ISCC:EED2ZIU4DQZ5YI6XDFWLTZVGHQ2LEOYHPARPNSMXDFTPH5RIHAFZHBY"
BRIDGE_VALUE = "IQesopwcM9wj1xlsueamPDSyOwd4IvbJlxlm8/YoOAuThw=="
# IEP-0020's test vector 1: Meta-, Content-Code Text, Data- and Instance-Code, no image.
VECTOR_1 = (
    "AAdXjHyPv721jyn2Pv6zhxVT+qdf+XRY1J7/XuTd82u2ySAHqIJIxTqFLI1+nFRwR8mjbEBStqyr7x4qTOFeWG4Ms"
    "wUwBwW0HzRySTIl0n7cvbYyNoRqU+4o3speNWGswMm734G1QAelIq9KLJy/aoCJJK/SrPoHkzR7k2Z49ZguIv3T3"
    "UoONw=="
)
INSTANCE_CODE = "ISCC:IAD2KIVPJIWJZP3KQCESJL6SVT5APEZUPOJWM6HVTAXCF7OT3VFA4NY"


def _iscc_sdk_pixels(image: Image.Image) -> list[int]:
    """iscc-sdk's ``image_normalize`` as it is written there (Pillow only), for reference."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        image = background
    elif image.mode == "P" and "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    elif image.mode != "RGB":
        image = image.convert("RGB")
    plain = Image.new(image.mode, image.size, image.getpixel((0, 0)))
    difference = ImageChops.difference(image, plain)
    bbox = ImageChops.add(difference, difference).getbbox()
    if bbox != (0, 0, *image.size):
        image = image.crop(bbox)
    return list(image.convert("L").resize((32, 32), Image.Resampling.BICUBIC).tobytes())


def _cases() -> dict[str, bytes]:
    photo = make_image((360, 240), seed=3)
    framed = Image.new("RGB", (1300, 1100), (10, 200, 30))  # two bands of rows when trimmed
    framed.paste(photo.resize((1000, 700)), (150, 260))
    transparent = make_image((200, 150), seed=4).convert("RGBA")
    transparent.putalpha(Image.linear_gradient("L").resize((200, 150)))
    palette = make_image((200, 150), seed=5).convert("P")
    palette.info["transparency"] = 0
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display
    return {
        "photo.jpg": encode(photo, "JPEG", quality=90),
        "framed.png": encode(framed, "PNG"),
        "transparent.png": encode(transparent, "PNG"),
        "palette.png": encode(palette, "PNG", transparency=0),
        "gray.png": encode(photo.convert("L"), "PNG"),
        "oriented.jpg": encode(photo, "JPEG", exif=exif),
        "one-colour.png": encode(Image.new("RGB", (64, 48), (3, 4, 5)), "PNG"),
        "bridge.jpg": BRIDGE.read_bytes(),
    }


def test_the_code_of_a_fixed_photo_is_stable():
    body = iscc.image_code_of_bytes(BRIDGE.read_bytes())
    assert iscc.unit(body) == BRIDGE_ISCC
    assert iscc.binding_value(body) == BRIDGE_VALUE
    assert iscc.seq(body) == base64.b64decode(BRIDGE_VALUE)
    # The 64-bit code iscc-core makes by default is the first quarter of the same body.
    pixels = iscc.normalized_pixels(Image.open(BRIDGE))
    short = ic.gen_image_code_v0(pixels, bits=64)["iscc"]
    assert ic.iscc_decode(short)[4].hex() == body[:16]


@pytest.mark.parametrize("name", list(_cases()))
def test_the_normalisation_is_iscc_sdks(name):
    data = _cases()[name]
    expected = ic.soft_hash_image_v0(_iscc_sdk_pixels(Image.open(io.BytesIO(data))), bits=256)
    assert iscc.image_code_of_bytes(data, name) == bytes(expected).hex()


def test_values_decode_to_the_image_code_and_others_are_refused():
    body = iscc.image_code_of_bytes(BRIDGE.read_bytes())
    assert decode_value(ISCC_ALG, BRIDGE_VALUE) == body
    assert encode_value(ISCC_ALG, body) == BRIDGE_VALUE
    assert decode_value(ISCC_ALG, BRIDGE_ISCC) == body  # the canonical text
    assert decode_value(ISCC_ALG, BRIDGE_ISCC.lower()) == body
    assert decode_value(ISCC_ALG, BRIDGE_VALUE.replace("+", " ")) == body  # unencoded query
    # Another signer's sequence may carry more units: the Content-Code Image is matched.
    with_instance = base64.b64encode(ic.encode_seq([INSTANCE_CODE, BRIDGE_ISCC])).decode()
    assert decode_value(ISCC_ALG, with_instance) == body
    for bad, words in [
        ("", "base64"),
        ("%%%", "neither base64"),
        (VECTOR_1, "holds no 256-bit ISCC Content-Code Image"),
        (base64.b64encode(bytes.fromhex("30000000000000")).decode(), "not an ISCC-SEQ"),
        (base64.b64encode(bytes.fromhex("60100000000000000000")).decode(), "not an ISCC-SEQ"),
        ("ISCC:EEAYYNMFG5XOELK2", "holds no 256-bit"),  # a 64-bit Content-Code Image
        (base64.b64encode(bytes(32)).decode(), "not an ISCC-SEQ"),  # a bare PDQ hash
    ]:
        with pytest.raises(InputError, match=words):
            decode_value(ISCC_ALG, bad)


def test_a_value_read_as_a_list_of_bytes_is_shown_as_base64():
    """c2pa shows bytes as base64; a reader that hands over the CBOR array of the value's
    bytes (as IEP-0020's byte string or as provaudit writes it) gets the same."""
    manifest = {
        "assertions": [
            {
                "label": "c2pa.soft-binding",
                "data": {
                    "alg": ISCC_ALG,
                    "blocks": [{"scope": {}, "value": list(base64.b64decode(BRIDGE_VALUE))}],
                },
            },
            {"label": "c2pa.soft-binding__1", "data": {"alg": "x", "blocks": [{"value": [256]}]}},
        ]
    }
    assert read_soft_bindings(manifest) == [{"alg": ISCC_ALG, "value": BRIDGE_VALUE}]


@pytest.fixture
def store(tmp_path):
    opened = FingerprintStore(Registry(f"sqlite:///{tmp_path / 'registry.db'}"), tmp_path / "i")
    yield opened
    opened.close()


def _strip(data: bytes, scale: float = 0.75, quality: int = 75) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    size = (round(image.width * scale), round(image.height * scale))
    return encode(image.resize(size, Image.Resampling.LANCZOS), "JPEG", quality=quality)


def test_a_signed_image_carries_the_code_and_its_stripped_copy_finds_it(store):
    identity = default_identity()[0]
    signer = ProvenanceSigner(identity, recorder=store.manifests)
    source = encode(make_image((640, 400), seed=41), "JPEG", quality=95)
    signed = signer.sign(source, SignRequest(ai_generated=True))
    other = signer.sign(encode(make_image((640, 400), seed=42), "PNG"))
    code = iscc.image_code_of_bytes(source)
    assert signed.iscc == code == iscc.image_code_of_bytes(signed.data)  # pixels untouched

    with c2pa.Reader("image/jpeg", io.BytesIO(signed.data)) as reader:
        manifest = json.loads(reader.json())
    active = manifest["manifests"][manifest["active_manifest"]]
    bindings = [a["data"] for a in active["assertions"] if a["label"] == "c2pa.soft-binding"]
    assert [binding["alg"] for binding in bindings] == [PDQ_ALG, ISCC_ALG]
    (block,) = bindings[1]["blocks"]
    assert block["value"] == iscc.binding_value(code)
    assert ic.decode_seq(base64.b64decode(block["value"])) == [iscc.unit(code)]
    report = ProvenanceVerifier(identity.root_pem).verify_bytes(signed.data)
    assert report.state == "trusted" and report.failure_codes == []
    assert {"alg": ISCC_ALG, "value": block["value"]} in report.soft_bindings

    label = active_manifest_label(signed.manifest_bytes)
    info, _stored = store.manifests.manifest(label)
    assert info.iscc == code and info.soft_binding_alg == PDQ_ALG  # PDQ stays the first

    stripped = _strip(signed.data)
    assert ProvenanceVerifier(identity.root_pem).verify_bytes(stripped).state == "absent"
    query = HashQuery(iscc=iscc.image_code_of_bytes(stripped))
    (match,) = store.manifests.recover([query])[0]
    assert (match.manifest.manifest_id, match.signal) == (label, "iscc")
    assert 0 < match.distance <= iscc.ISCC_MATCH_DISTANCE
    assert match.reason().endswith(f"at distance {match.distance} (ISCC).")
    (exact,) = store.manifests.by_binding(ISCC_ALG, block["value"])
    assert (exact.manifest.manifest_id, exact.distance) == (label, 0)
    assert store.manifests.by_binding(ISCC_ALG, iscc.unit(code))[0].distance == 0
    assert active_manifest_label(other.manifest_bytes) not in {
        m.manifest.manifest_id for m in store.manifests.recover([query])[0]
    }
    # Fingerprints from the image alone (audits, verify --recover) carry no ISCC: PDQ finds it.
    (by_pixels, *_rest) = store.manifests.recover_image(decode_image(stripped))
    assert (by_pixels.manifest.manifest_id, by_pixels.signal) == (label, "pdq")
    assert store.status()["indexes"]["manifest-iscc"]["size"] == 2


def test_cli_sign_writes_both_bindings_and_verify_json_shows_them(run_cli, tmp_path):
    source = tmp_path / "photo.png"
    make_image((480, 320), seed=43).save(source)
    signed = tmp_path / "signed.png"
    assert run_cli("sign", source, "-o", signed, "--no-record").returncode == 0
    result = run_cli("verify", signed, "--trust-dev", "--json")
    assert result.returncode == 0, result.stderr
    bindings = json.loads(result.stdout)["soft_bindings"]
    assert [binding["alg"] for binding in bindings] == [PDQ_ALG, ISCC_ALG]
    assert bindings[1]["value"] == iscc.binding_value(iscc.image_code_of_bytes(source.read_bytes()))


def test_a_registry_from_before_the_iscc_column_is_migrated(tmp_path):
    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    assert schema_revision(engine) == "0001"
    assert "iscc" not in {c["name"] for c in inspect(engine).get_columns("signed_manifests")}

    store = FingerprintStore(Registry(engine), tmp_path / "index")
    assert schema_revision(engine) == head_revision()
    assert "iscc" in {c["name"] for c in inspect(engine).get_columns("signed_manifests")}
    signed = ProvenanceSigner(default_identity()[0], recorder=store.manifests).sign(
        encode(make_image((320, 240), seed=44), "PNG")
    )
    info, _stored = store.manifests.manifest(active_manifest_label(signed.manifest_bytes))
    assert info.iscc == signed.iscc and info.iscc is not None
    assert store.status()["in_sync"] is True
    store.close()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert "iscc" not in {c["name"] for c in inspect(engine).get_columns("signed_manifests")}
    engine.dispose()
