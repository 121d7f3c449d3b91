"""Bias reports through the service: a real uvicorn server, real SQLite, real worker thread."""

from __future__ import annotations

import os
import time

import pytest

from tests.test_bias_planted import planted_pixels, save_png
from tests.test_service import API_KEY, detector_checkpoint, server  # noqa: F401

pytest.importorskip("fairlearn")
pytest.importorskip("matplotlib")

KEY = {"X-API-Key": API_KEY}


@pytest.fixture(scope="module", autouse=True)
def reports_root(tmp_path_factory: pytest.TempPathFactory):
    """The folder the server may read; set before the (module-scoped) server starts."""
    root = tmp_path_factory.mktemp("reports-root")
    data = root / "faces"
    for group, count in (("a", 14), ("b", 4)):
        for k in range(count):
            save_png(
                data / f"group={group}" / f"{k:02d}.png",
                planted_pixels(100 * k + ord(group), group),
            )
    save_png(data / "group=a" / "copy.png", planted_pixels(ord("a"), "a"))  # = group=a/00.png
    (data / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (root / "bad.csv").write_text("path,group\n00.png,a,extra\n")
    outside = tmp_path_factory.mktemp("outside")
    save_png(outside / "secret.png", planted_pixels(1))
    (root / "link").symlink_to(outside, target_is_directory=True)
    previous = os.environ.get("PROVAUDIT_REPORTS_ROOT")
    os.environ["PROVAUDIT_REPORTS_ROOT"] = str(root)
    yield root
    if previous is None:
        del os.environ["PROVAUDIT_REPORTS_ROOT"]
    else:
        os.environ["PROVAUDIT_REPORTS_ROOT"] = previous


def _wait(client, report_id: str, deadline_s: float = 400) -> dict:
    deadline = time.monotonic() + deadline_s
    while True:
        job = client.get(f"/v1/reports/{report_id}").json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


def test_report_round_trip_reaches_done_with_results_and_html(server):  # noqa: F811
    body = {"dataset": "faces", "detector": True, "bootstrap": 20, "min_group_size": 5}
    with server.client() as client:
        response = client.post("/v1/reports", json=body, headers=KEY)
        assert response.status_code == 202, response.text
        job = response.json()
        assert job["status"] in ("queued", "running", "done")
        assert response.headers["location"] == f"/v1/reports/{job['id']}"
        assert "results" not in job
        job = _wait(client, job["id"])
        assert job["status"] == "done", job
        results = job["results"]
        sheet = results["datasheet"]
        assert sheet["image_files"] == 20 and sheet["unreadable_images"] == 1
        assert sheet["unreadable"][0]["image"] == "broken.png"
        group = results["representation"]["attributes"]["group"]
        assert {row["value"]: row["n"] for row in group["rows"]} == {"a": 15, "b": 4}
        assert group["small_groups"] == ["b"]
        assert results["quality"]["exact_duplicates"]["groups"] == [
            ["group=a/00.png", "group=a/copy.png"]
        ]
        assert results["detector"]["images_scored"] == 19
        assert job["progress"]["done"] == job["progress"]["total"] == 20
        assert job["finished"] and job["started"]

        page = client.get(job["links"]["html"])
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "1. Datasheet summary" in page.text and "6. Mitigation hints" in page.text
        table = client.get(job["links"]["csv"])
        assert table.status_code == 200 and table.text.startswith("image,split,label")
        assert client.get(f"/v1/reports/{job['id']}/secrets.txt").status_code == 404
    # The job and its report live in the service's SQLite file.
    import sqlite3

    with sqlite3.connect(server.home / "provaudit.db") as db:
        row = db.execute("select status from bias_reports where id = ?", (job["id"],)).fetchone()
    assert row == ("done",)


@pytest.mark.parametrize(
    ("dataset", "code"),
    [
        ("../", "path_outside_root"),
        ("/etc", "path_outside_root"),
        ("link", "path_outside_root"),  # a symlink inside the root that leads out of it
    ],
)
def test_paths_outside_the_root_are_refused_with_json(server, dataset, code):  # noqa: F811
    with server.client() as client:
        response = client.post("/v1/reports", json={"dataset": dataset}, headers=KEY)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == code


def test_bad_requests_get_4xx_json_never_a_job(server):  # noqa: F811
    with server.client() as client:
        no_key = client.post("/v1/reports", json={"dataset": "faces"})
        assert no_key.status_code == 401
        missing = client.post("/v1/reports", json={"dataset": "nope"}, headers=KEY)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        too_few = client.post("/v1/reports", json={"dataset": "faces", "bootstrap": 5}, headers=KEY)
        assert too_few.status_code == 422
        assert too_few.json()["error"]["message"].startswith("bootstrap")
        unknown = client.post("/v1/reports", json={"dataset": "faces", "colour": 1}, headers=KEY)
        assert unknown.status_code == 422
        split = client.post(
            "/v1/reports", json={"dataset": "faces", "splits": {"dataset": "faces"}}, headers=KEY
        )
        assert split.status_code == 422 and "reserved" in split.json()["error"]["message"]
        assert client.get("/v1/reports/no-such-id").status_code == 404


def test_a_malformed_attributes_file_fails_the_job_naming_the_line(server):  # noqa: F811
    body = {"dataset": "faces", "attributes": "bad.csv", "bootstrap": 10}
    with server.client() as client:
        response = client.post("/v1/reports", json=body, headers=KEY)
        assert response.status_code == 202
        job = _wait(client, response.json()["id"])
        assert job["status"] == "failed"
        assert job["error"]["code"] == "bad_dataset"
        assert "bad.csv line 2: expected 2 fields" in job["error"]["message"]
        html = client.get(f"/v1/reports/{job['id']}/report.html")
        assert html.status_code == 409


def test_reports_are_documented_in_the_openapi_schema(server):  # noqa: F811
    with server.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/reports" in paths and "/v1/reports/{report_id}" in paths
