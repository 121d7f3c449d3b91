"""``provaudit bias-report`` as a user runs it: one readable error line for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.test_bias_planted import build_standin_detector, planted_pixels, save_png

pytest.importorskip("fairlearn")


@pytest.fixture
def small(tmp_path):
    data = tmp_path / "data"
    for k in range(6):
        save_png(data / ("x" if k % 2 else "y") / f"{k}.png", planted_pixels(k, "ab"[k % 2]))
    return data


def _one_error_line(result) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_missing_dataset_folder(run_cli, tmp_path):
    result = run_cli("bias-report", tmp_path / "nowhere", "--out", tmp_path / "out")
    assert "does not exist" in _one_error_line(result)
    assert not (tmp_path / "out").exists()


def test_empty_dataset_folder(run_cli, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli("bias-report", tmp_path / "empty", "--out", tmp_path / "out")
    assert "holds no images" in _one_error_line(result)


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ("path,group\n0.png,a\n1.png,b,c\n", [], "attributes.csv line 3: expected 2 fields"),
        ("path,group\n0.png,a\n", ["--attribute", "age"], "has no column 'age'"),
        ("name,group\n0.png,a\n", [], "has no path column"),
    ],
)
def test_bad_attributes_file(run_cli, small, tmp_path, content, extra, message):
    attributes = tmp_path / "attributes.csv"
    attributes.write_text(content)
    result = run_cli(
        "bias-report", small, "--out", tmp_path / "out", "--attributes", attributes, *extra
    )
    assert message in _one_error_line(result)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--split", "train"], "--split takes NAME=DIR"),
        (["--near-dup-threshold", "300"], "between 0 and 31 bits for phash-centre"),
        (["--near-dup-hash", "pdq", "--near-dup-threshold", "300"], "between 0 and 127"),
        (["--near-dup-hash", "md5"], "Unknown near-duplicate hash"),
        (["--engine", "spark"], "Unknown engine"),
        (["--detector", "nowhere"], "does not exist"),
        (["--reference", "nowhere.json"], "does not exist"),
    ],
)
def test_bad_options(run_cli, small, tmp_path, extra, message):
    result = run_cli("bias-report", small, "--out", tmp_path / "out", *extra)
    assert message in _one_error_line(result)


def test_json_summary_and_attributes_file_naming_missing_images(run_cli, small, tmp_path):
    attributes = tmp_path / "attributes.jsonl"
    rows = [{"path": f"{side}/{k}.png", "tone": "ab"[k % 2]} for k, side in enumerate("yxyxyx")]
    rows.append({"path": "y/missing.png", "tone": "a"})
    attributes.write_text("".join(json.dumps(row) + "\n" for row in rows))
    (small / "junk.png").write_text("not an image")
    reference = tmp_path / "reference.json"
    reference.write_text(json.dumps({"tone": {"a": 1, "b": 3}}))
    out = tmp_path / "out"
    result = run_cli(
        "bias-report", small, "--out", out, "--attributes", attributes, "--json",
        "--near-dup-hash", "phash", "--near-dup-threshold", "0", "--bootstrap", "50",
        "--reference", reference,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["images"] == 7 and summary["unreadable"] == 1
    report = json.loads((out / "report.json").read_text())
    assert report["datasheet"]["attributes"]["rows_naming_missing_images"] == [
        {"line": 7, "path": "y/missing.png", "problem": "no such image"}
    ]
    assert report["quality"]["near_duplicates"]["hash"] == "phash"
    assert report["quality"]["near_duplicates"]["bits"] == 64
    assert report["detector"] is None
    rows = {row["value"]: row for row in report["representation"]["attributes"]["tone"]["rows"]}
    assert rows["a"]["n"] == 3 and rows["a"]["reference_share"] == 0.25
    assert rows["a"]["ratio_to_reference"] == pytest.approx(0.5 / 0.25)
    weights = report["mitigation"]["reweighting"]["tone"]
    assert weights["uniform"] == {"a": 1.0, "b": 1.0}
    assert weights["reference"]["b"] == pytest.approx(0.75 * 6 / 3)
    assert (out / "report.html").read_text().count("<section") == 8


def test_detector_path_never_imports_torch(small, tmp_path):
    """The report scores through onnxruntime only, like the service."""
    detector = build_standin_detector(tmp_path / "ckpt")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from service.bias.options import ReportOptions\n"
        "from service.bias.report import build_report\n"
        f"report, _, _ = build_report(ReportOptions(dataset=Path({str(small)!r}), "
        f"detector=Path({str(detector)!r}), bootstrap=10))\n"
        "assert report['detector']['images_scored'] == 6\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'timm')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_bias_report_command_runs_without_the_web_service(small, tmp_path):
    """`provaudit bias-report` is the library run from the CLI: no FastAPI, no service glue,
    and its figures never touch pyplot's global state (the service draws them in threads)."""
    out = tmp_path / "report"
    code = (
        "import sys\n"
        "from provenance.cli.main import main\n"
        "try:\n"
        f"    main(['bias-report', {str(small)!r}, '--out', {str(out)!r}, '--bootstrap', '10'])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette',"
        " 'uvicorn') or m == 'matplotlib.pyplot'"
        " or (m.startswith('service.') and not m.startswith('service.bias'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert (out / "report.html").is_file()
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_parquet_list_of_paths_as_dataset(run_cli, small, tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    listing = tmp_path / "list.parquet"
    rows = [
        {"path": f"data/{'x' if k % 2 else 'y'}/{k}.png", "side": "xy"[k % 2]} for k in range(6)
    ]
    pq.write_table(pa.Table.from_pylist(rows), listing)
    result = run_cli(
        "bias-report", listing, "--out", tmp_path / "out", "--json", "--bootstrap", "10"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["datasheet"]["readable_images"] == 6
    assert [row["value"] for row in report["representation"]["attributes"]["side"]["rows"]] == [
        "x",
        "y",
    ]
    pq.write_table(pa.Table.from_pylist([{"name": "a.png"}]), listing)
    result = run_cli("bias-report", listing, "--out", tmp_path / "out2")
    assert "list.parquet has no path column" in _one_error_line(result)
