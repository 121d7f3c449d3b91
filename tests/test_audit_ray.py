"""``provaudit audit --engine ray`` on a local Ray gives the local engine's results.

A one-CPU Ray on this machine (what the command starts without ``RAY_ADDRESS``); skipped
where the ``ray`` extra is absent (``make test`` installs it). Most of its time is Ray
starting its processes and the actor loading the pipeline.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from provenance.cli.exit_status import ExitStatus
from service.audit.sinks import read_results
from tests.conftest import C2PA_FIXTURES, REPO_ROOT, SHARED, encode, make_image

pytest.importorskip("ray")
pytest.importorskip("ray.data")
pytest.importorskip("pyarrow")

pytestmark = pytest.mark.timeout(400)

C2PA_TEST_FILE = SHARED / "c2pa-testfiles" / "jpeg" / "truepic-20230212-camera.jpg"


def sign_ai_image(pixels: bytes) -> bytes:
    """Signed as the service signs, recorded in the registry (for recovery)."""
    from provenance.keys import default_identity
    from provenance.signing import GeneratorInfo, ProvenanceSigner, SignRequest
    from provenance.store import FingerprintStore

    identity, _ = default_identity()
    store = FingerprintStore.open()
    try:
        signer = ProvenanceSigner(identity, recorder=store.manifests)
        request = SignRequest(
            title="gan.png", ai_generated=True, generator=GeneratorInfo(family="gan", seed=1)
        )
        return signer.sign(pixels, request).data
    finally:
        store.close()


def run_audit(home: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PROVAUDIT_HOME=str(home), COLUMNS="200", NO_COLOR="1")
    for name in ("PROVAUDIT_DATABASE_URL", "PROVAUDIT_DATA_DIR", "PROVAUDIT_DEBUG", "RAY_ADDRESS"):
        env.pop(name, None)  # this test's own registry, and a Ray it starts itself
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return subprocess.run(
        [sys.executable, "-m", "provenance", "audit", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=360,
        env=env,
        cwd=REPO_ROOT,
    )


def test_the_ray_engine_gives_the_local_engines_results(provaudit_home, tmp_path):
    folder = tmp_path / "images"
    (folder / "generated").mkdir(parents=True)
    signed = sign_ai_image(encode(make_image(seed=11), "PNG"))
    (folder / "generated" / "gan.png").write_bytes(signed)
    stripped = Image.open(io.BytesIO(signed)).convert("RGB")
    (folder / "stripped.jpg").write_bytes(encode(stripped, "JPEG", quality=90))
    (folder / "photo.jpg").write_bytes(encode(make_image(seed=12), "JPEG", quality=90))
    c2pa_file = (
        C2PA_TEST_FILE if C2PA_TEST_FILE.is_file() else C2PA_FIXTURES / "adobe-20220124-CA.jpg"
    )
    (folder / c2pa_file.name).write_bytes(c2pa_file.read_bytes())
    (folder / "cut.png").write_bytes(signed[:300])
    (folder / "notes.txt").write_text("skipped\n")

    local = run_audit(provaudit_home, folder, "--out", tmp_path / "local.jsonl")
    remote = run_audit(
        provaudit_home,
        folder,
        "--engine",
        "ray",
        "--workers",
        "1",
        "--out",
        tmp_path / "ray.parquet",
    )
    assert local.returncode == remote.returncode == ExitStatus.ERROR, remote.stderr
    local_results = read_results(tmp_path / "local.jsonl")
    ray_results = read_results(tmp_path / "ray.parquet")
    assert [r.to_dict() for r in ray_results] == [r.to_dict() for r in local_results]
    by_name = {Path(r.path).name: r for r in ray_results}
    assert sorted(by_name) == sorted(
        ["gan.png", "stripped.jpg", "photo.jpg", c2pa_file.name, "cut.png"]
    )
    # The comparison covers a declaration, a recovery, a detector score and an error.
    assert by_name["gan.png"].verdict == "declared_ai"
    assert by_name["stripped.jpg"].result["matches"][0]["kind"] == "manifest"
    assert by_name["photo.jpg"].result["ai_origin"] is not None
    assert by_name["cut.png"].error is not None
    assert by_name[c2pa_file.name].state in ("valid", "trusted", "invalid")
