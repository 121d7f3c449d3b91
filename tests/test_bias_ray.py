"""``--engine ray``: the per-image map on a local Ray instance gives the local engine's report.

Ray 2.x no longer has ``local_mode``; the test starts a one-CPU Ray on this machine (what
``ray.init()`` without ``RAY_ADDRESS`` does) and skips where the ``ray`` extra is absent.
"""

from __future__ import annotations

import pytest

from service.bias.options import ReportOptions
from service.bias.report import build_report
from tests.test_bias_planted import build_standin_detector, mark, planted_pixels, save_png

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")
pytest.importorskip("fairlearn")


@pytest.fixture(scope="module")
def local_ray():
    import ray.data

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    yield ray
    ray.shutdown()


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
    (data / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nxx")
    detector = build_standin_detector(tmp_path / "ckpt")
    options = {"dataset": data, "detector": detector, "bootstrap": 20, "batch_size": 4}
    local, _, local_table = build_report(ReportOptions(**options))
    remote, _, ray_table = build_report(ReportOptions(engine="ray", workers=1, **options))
    assert remote["meta"]["engine"] == "ray"
    assert _strip(remote) == _strip(local)
    assert list(ray_table["path"]) == list(local_table["path"])
    assert remote["datasheet"]["unreadable_images"] == 1
    assert remote["detector"]["by_attribute"]["group"]["groups"][0]["false_positive_rate"] > 0
