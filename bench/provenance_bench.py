"""Per-image cost of provaudit's sign and verify against raw c2pa-python calls.

Both sides sign (or read) the same 512x512 image with the same c2pa Signer settings in
the same process; calls are interleaved so machine noise hits both alike. Prints the
medians, the ratio project/raw (goal: <= 1.2 for both), and one JSON line.

    .venv/bin/python bench/provenance_bench.py [--repeats 200] [--format JPEG]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def photo_like(size: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    pixels = np.stack(
        [127 + 100 * np.sin(x / (13 + 4 * c)) * np.cos(y / (19 + 3 * c)) for c in range(3)], -1
    ) + rng.normal(0, 8, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def interleaved_medians(
    first: Callable[[], object], second: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Median seconds of each, alternating calls (after a warm-up of each)."""
    for _ in range(5):
        first()
        second()
    times_first, times_second = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        first()
        times_first.append(time.perf_counter() - start)
        start = time.perf_counter()
        second()
        times_second.append(time.perf_counter() - start)
    return statistics.median(times_first), statistics.median(times_second)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--format", default="JPEG", choices=["JPEG", "PNG", "WEBP"])
    args = parser.parse_args()
    os.environ.setdefault("PROVAUDIT_HOME", tempfile.mkdtemp(prefix="provaudit-bench-"))

    import c2pa

    from provenance.keys import default_identity
    from provenance.media import MIME_BY_FORMAT, check_media
    from provenance.signing import (
        ProvenanceSigner,
        SignRequest,
        _builder_context,
        build_manifest_definition,
    )
    from provenance.verify import ProvenanceVerifier

    buffer = io.BytesIO()
    photo_like(args.size).save(buffer, args.format)
    source = buffer.getvalue()
    mime = MIME_BY_FORMAT[args.format.lower()]
    identity, _ = default_identity()
    request = SignRequest(ai_generated=True)

    # provaudit
    project_signer = ProvenanceSigner(identity)
    verifier = ProvenanceVerifier(identity.root_pem)

    # raw c2pa-python, with the same definition and settings the project uses
    raw_signer = identity.make_signer()
    definition = build_manifest_definition(request, check_media(source))
    builder_context = _builder_context("off", identity.root_pem.decode())
    reader_context = c2pa.Context.from_dict(
        {
            "trust": {"user_anchors": identity.root_pem.decode()},
            "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
        }
    )

    def raw_sign() -> bytes:
        with c2pa.Builder(definition, builder_context) as builder:
            out = io.BytesIO()
            builder.sign(raw_signer, mime, io.BytesIO(source), out)
            return out.getvalue()

    def project_sign() -> bytes:
        return project_signer.sign(source, request).data

    signed = project_sign()

    def raw_verify() -> object:
        with c2pa.Reader(mime, io.BytesIO(signed), None, reader_context) as reader:
            return json.loads(reader.json()), reader.get_validation_state()

    def project_verify() -> object:
        return verifier.verify_bytes(signed)

    assert project_verify().state == "trusted"
    raw_sign_s, project_sign_s = interleaved_medians(raw_sign, project_sign, args.repeats)
    raw_verify_s, project_verify_s = interleaved_medians(raw_verify, project_verify, args.repeats)

    result = {
        "bench": "provenance",
        "image": f"{args.size}x{args.size} {args.format}",
        "repeats": args.repeats,
        "sign_raw_ms": round(raw_sign_s * 1e3, 3),
        "sign_project_ms": round(project_sign_s * 1e3, 3),
        "sign_ratio": round(project_sign_s / raw_sign_s, 3),
        "verify_raw_ms": round(raw_verify_s * 1e3, 3),
        "verify_project_ms": round(project_verify_s * 1e3, 3),
        "verify_ratio": round(project_verify_s / raw_verify_s, 3),
        "c2pa_python": c2pa.__version__,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu",
    }
    print(f"image {result['image']}, median of {args.repeats} interleaved calls")
    print(
        f"sign:   raw c2pa {result['sign_raw_ms']:.3f} ms, provaudit "
        f"{result['sign_project_ms']:.3f} ms, ratio {result['sign_ratio']:.3f} (goal <= 1.2)"
    )
    print(
        f"verify: raw c2pa {result['verify_raw_ms']:.3f} ms, provaudit "
        f"{result['verify_project_ms']:.3f} ms, ratio {result['verify_ratio']:.3f} (goal <= 1.2)"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
