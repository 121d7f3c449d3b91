"""``--engine ray``: the per-image map on a local Ray instance gives the local engine's report.

Ray 2.60 no longer supports ``local_mode``; the test starts a one-CPU Ray on this machine
(what ``ray.init()`` without ``RAY_ADDRESS`` does: processes talking over loopback, no
network needed, usage statistics off) and skips where the ``ray`` extra is absent
(``make test`` installs it). About 30 s on an idle 2-core CPU, most of it Ray starting its
processes and workers; the timeout keeps a Ray that cannot start from holding up the suite.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from service.bias.options import ReportOptions
from service.bias.report import build_report
from tests.test_bias_planted import build_standin_detector, mark, planted_pixels, save_png

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")
pytest.importorskip("fairlearn")

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def local_ray():
    import ray.data

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # A Ray the test starts itself, never a cluster named in the environment.
    address = os.environ.pop("RAY_ADDRESS", None)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    try:
        yield ray
    finally:
        ray.shutdown()
        if address is not None:
            os.environ["RAY_ADDRESS"] = address


def _strip(report: dict) -> dict:
    return {key: value for key, value in report.items() if key not in ("meta",)}


def test_ray_engine_matches_the_local_engine(local_ray, tmp_path):
    data = tmp_path / "data"
    for k in range(10):
        pixels = planted_pixels(k, "ab"[k % 2])
        save_png(
            data / f"group={'ab'[k % 2]}" / "0_real" / f"{k}.png", mark(pixels) if k < 3 else pixels
        )
    save_png(data / "group=a" / "0_real" / "copy.png", planted_pixels(0, "a"))
    # A near-duplicate: 5.png with a gamma tweak (4 PDQ bits apart).
    toned = 255.0 * (planted_pixels(5, "b") / 255.0) ** 0.9
    save_png(data / "group=b" / "0_real" / "5_toned.png", np.rint(toned).astype(np.uint8))
    (data / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nxx")
    detector = build_standin_detector(tmp_path / "ckpt")
    options = {"dataset": data, "detector": detector, "bootstrap": 20, "batch_size": 4}
    local, _, local_table = build_report(ReportOptions(**options))
    remote, _, ray_table = build_report(ReportOptions(engine="ray", workers=1, **options))
    assert remote["meta"]["engine"] == "ray"
    assert _strip(remote) == _strip(local)
    assert list(ray_table["path"]) == list(local_table["path"])
    # Every per-image value the map computes, image by image: digests, hashes, statistics,
    # detector scores.
    assert set(ray_table) == set(local_table)
    for column, values in local_table.items():
        if values.dtype.kind == "f":
            np.testing.assert_allclose(ray_table[column], values, rtol=1e-6, err_msg=column)
        else:
            assert ray_table[column].tolist() == values.tolist(), column
    # The aggregation after the map is the same code: the toned copy of 5.png is found, and
    # so is copy.png, 0.png but for the detector's 4x4 corner (found by pHash, not by PDQ).
    near = remote["quality"]["near_duplicates"]
    pairs = [
        ["group=a/0_real/0.png", "group=a/0_real/copy.png"],
        ["group=b/0_real/5.png", "group=b/0_real/5_toned.png"],
    ]
    assert [cluster["images"] for cluster in near["clusters"]] == pairs
    assert remote["datasheet"]["unreadable_images"] == 1
    assert remote["detector"]["by_attribute"]["group"]["groups"][0]["false_positive_rate"] > 0


def test_a_parquet_list_of_paths_on_ray_gives_the_folder_report(local_ray, tmp_path):
    """The 1M-image input: a Parquet list of paths (no folder walk, attributes and labels
    as columns), mapped on Ray, aggregated on the driver from the per-image columns only.
    Its report equals the one the local engine makes from the same images as a folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = tmp_path / "data"
    rows = []
    for k in range(12):
        group = "ab"[k % 2]
        key = f"group={group}/0_real/{k}.png"
        save_png(data / key, mark(planted_pixels(k, group)) if k < 4 else planted_pixels(k, group))
        rows.append({"path": key, "group": group, "label": "real"})
    save_png(data / "group=a/0_real/copy.png", planted_pixels(0, "a"))
    rows.append({"path": "group=a/0_real/copy.png", "group": "a", "label": "real"})
    rows.append({"path": "group=b/0_real/gone.png", "group": "b", "label": "real"})
    listing = data / "images.parquet"
    pq.write_table(pa.Table.from_pylist(rows), listing)
    detector = build_standin_detector(tmp_path / "ckpt")
    common = {"detector": detector, "bootstrap": 20, "batch_size": 4}
    folder, _, _ = build_report(ReportOptions(dataset=data, **common))
    listed, dataset, table = build_report(
        ReportOptions(dataset=listing, engine="ray", workers=1, **common)
    )
    assert listed["meta"]["engine"] == "ray"
    assert [entry.key for entry in dataset.entries] == sorted(row["path"] for row in rows)
    # The listed file that is not there is unreadable, as a broken file in a folder is.
    assert listed["datasheet"]["unreadable"][0]["image"] == "group=b/0_real/gone.png"
    assert not table["ok"][
        [entry.key for entry in dataset.entries].index("group=b/0_real/gone.png")
    ]
    # No generated image lacks an attribute, so no classifier runs and the driver keeps no
    # feature vector at all (the largest per-image column).
    assert table["features"].shape[0] == 0 and len(table["features_index"]) == 0
    gone = len(rows) - 1
    for name in ("quality", "detector", "representation", "generator_bias", "mitigation"):
        assert listed[name] == folder[name], name
    assert listed["datasheet"]["readable_images"] == folder["datasheet"]["readable_images"] == gone
    assert folder["datasheet"]["metadata_files"] == ["images.parquet"]
    assert [f for f in listed["findings"] if "could not be read" not in f] == folder["findings"]
