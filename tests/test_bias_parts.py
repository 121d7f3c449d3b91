"""The bias report's parts on small real inputs: scanning, sidecars, hashing search, stats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from service.bias.dataset import scan_dataset
from service.bias.images import BatchAnalyser, quality_stats
from service.bias.neardup import brute_force_pairs, faiss_available, near_pairs, plan_search
from service.bias.options import BiasReportError, ReportOptions
from service.bias.representation import bootstrap_shares, read_reference
from tests.test_bias_planted import planted_pixels, save_png


def _random_codes(n: int, nbytes: int, radius: int, seed: int) -> list[str]:
    """Random hashes plus copies of some with 0..radius+2 bits flipped (in and out of range)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    bits = nbytes * 8
    for _ in range(n // 10):
        a, b = rng.integers(n, size=2)
        flipped = np.unpackbits(codes[a])
        flipped[rng.choice(bits, size=rng.integers(0, radius + 3), replace=False)] ^= 1
        codes[b] = np.packbits(flipped)
    codes[3] = codes[4] = codes[5]  # identical hashes collapse and expand correctly
    return [code.tobytes().hex() for code in codes]


@pytest.mark.parametrize(("nbytes", "radius"), [(32, 31), (32, 10), (8, 8), (8, 0)])
def test_multi_index_search_finds_exactly_the_all_pairs_answer(nbytes, radius):
    hexes = _random_codes(1500, nbytes, radius, seed=radius)
    truth = brute_force_pairs(hexes, radius)
    assert len(truth) > 50
    pairs, distances, info = near_pairs(hexes, radius, backend="numpy")
    assert {tuple(p) for p in pairs.tolist()} == truth
    assert info["plan"]["exact"] and (distances <= radius).all()
    # Far fewer candidates than the n^2/2 pairs a full comparison would check.
    assert info["candidates"] < 1500 * 1499 / 2 / 10
    if faiss_available():
        pairs_faiss, _, info_faiss = near_pairs(hexes, radius, backend="faiss")
        assert {tuple(p) for p in pairs_faiss.tolist()} == truth
        assert info_faiss["backend"] == "faiss"


def test_search_plan_is_exact_and_grows_slowly():
    small, large = plan_search(256, 31, 10_000), plan_search(256, 31, 1_000_000)
    assert small.exact and large.exact
    assert large.nhash * (large.nflip + 1) > 31
    assert plan_search(64, 0, 100).nflip == 0


def test_quality_statistics_follow_their_definitions():
    flat = np.full((40, 40, 3), 77, np.uint8)
    brightness, sharpness, entropy = quality_stats(flat)
    assert brightness == pytest.approx(77 / 255, abs=1e-3)
    assert sharpness == 0.0 and entropy == 0.0
    two_levels = np.zeros((40, 40, 3), np.uint8)
    two_levels[:, 20:] = 255
    assert quality_stats(two_levels)[2] == pytest.approx(1.0)
    sharp = planted_pixels(3)
    # Contrast stretching: a darkened copy is as sharp as the original, a blurred one is not.
    dark = (sharp * 0.12).astype(np.uint8)
    blurred = np.asarray(Image.fromarray(sharp).filter(ImageFilter.GaussianBlur(3)))
    assert quality_stats(dark)[1] > 100 and quality_stats(sharp)[1] > 100
    assert quality_stats(blurred)[1] < 100


def test_analyser_lists_unreadable_files_with_a_reason(tmp_path):
    save_png(tmp_path / "good.png", planted_pixels(1))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello")
    analyser = BatchAnalyser()
    paths = [str(tmp_path / n) for n in ("good.png", "empty.png", "text.jpg")]
    columns = analyser({"path": np.array(paths, dtype=object)})
    assert columns["ok"].tolist() == [True, False, False]
    assert "empty" in columns["error"][1] and "not a supported image" in columns["error"][2]
    assert len(columns["pdq"][0]) == 64 and len(columns["phash"][0]) == 16
    assert columns["c2pa_state"][0] == "absent"


def _options(root: Path, **kw) -> ReportOptions:
    return ReportOptions(dataset=root, **kw)


def test_attributes_from_key_value_and_named_folders(tmp_path):
    save_png(tmp_path / "region=north" / "adult" / "x.png", planted_pixels(1))
    save_png(tmp_path / "region=south" / "child" / "y.png", planted_pixels(2))
    save_png(tmp_path / "gan" / "1_fake" / "z.png", planted_pixels(3))
    dataset = scan_dataset(_options(tmp_path, folder_attributes=["age"]))
    facts = {e.key: (e.attributes, e.label, e.family) for e in dataset.entries}
    assert facts["region=north/adult/x.png"] == ({"region": "north", "age": "adult"}, None, None)
    assert facts["region=south/child/y.png"][0] == {"region": "south", "age": "child"}
    assert facts["gan/1_fake/z.png"] == ({"age": "gan"}, "generated", "gan")
    assert dataset.attribute_sources == {"age": "folder names", "region": "folder names"}


def test_labels_jsonl_and_sidecar_jsonl(tmp_path):
    save_png(tmp_path / "a.png", planted_pixels(1))
    save_png(tmp_path / "b.png", planted_pixels(2))
    (tmp_path / "labels.jsonl").write_text(
        json.dumps({"path": "a.png", "label": "fake", "family": "vae"}) + "\n"
        + json.dumps({"path": "gone.png", "label": "real"}) + "\n"
    )  # fmt: skip
    sidecar = tmp_path / "meta.jsonl"
    sidecar.write_text(
        json.dumps({"path": "a.png", "tone": "light", "age": 30}) + "\n"
        + json.dumps({"path": "b.png", "tone": None, "label": "real"}) + "\n"
    )  # fmt: skip
    dataset = scan_dataset(_options(tmp_path, attributes_file=sidecar))
    entries = {e.key: e for e in dataset.entries}
    assert (entries["a.png"].label, entries["a.png"].family) == ("generated", "vae")
    assert entries["a.png"].attributes == {"tone": "light", "age": "30"}
    assert entries["b.png"].label == "real" and entries["b.png"].attributes == {}
    assert [p.path for p in dataset.labels_missing_images] == ["gone.png"]
    assert dataset.metadata_files == ["labels.jsonl"]  # the sidecar itself is not listed


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("path,group\na.png,x\nb.png,y,extra\n", "attributes.csv line 3: expected 2 fields"),
        ('path,group\na.png,"unclosed\n', "attributes.csv line"),
        ("file_name,group\na.png,x\n", "has no path column"),
        ("path,group\na.png,x\na.png,y\n", "line 3 repeats a.png (first on line 2)"),
        ("path,group\n,x\n", "line 2 has an empty path"),
        ("", "is empty"),
        ("path,label\na.png,maybe\n", "label 'maybe' is neither real nor generated"),
    ],
)
def test_bad_attributes_files_are_refused_naming_the_line(tmp_path, content, message):
    save_png(tmp_path / "data" / "a.png", planted_pixels(1))
    sidecar = tmp_path / "attributes.csv"
    sidecar.write_text(content)
    with pytest.raises(BiasReportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        scan_dataset(_options(tmp_path / "data", attributes_file=sidecar))


def test_missing_column_and_bad_jsonl_line(tmp_path):
    save_png(tmp_path / "data" / "a.png", planted_pixels(1))
    sidecar = tmp_path / "attributes.csv"
    sidecar.write_text("path,group\na.png,x\n")
    with pytest.raises(BiasReportError, match="has no column 'age'"):
        scan_dataset(
            _options(tmp_path / "data", attributes_file=sidecar, attribute_columns=["age"])
        )
    bad = tmp_path / "attributes.jsonl"
    bad.write_text('{"path": "a.png"}\n{"path": \n')
    with pytest.raises(BiasReportError, match=r"attributes\.jsonl line 2 is not valid JSON"):
        scan_dataset(_options(tmp_path / "data", attributes_file=bad))


def test_empty_and_missing_dataset_folders(tmp_path):
    with pytest.raises(BiasReportError, match="does not exist"):
        scan_dataset(_options(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(BiasReportError, match="holds no images"):
        scan_dataset(_options(tmp_path / "empty"))
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "README.md").write_text("x")
    with pytest.raises(BiasReportError, match="only metadata files"):
        scan_dataset(_options(tmp_path / "meta"))


def test_options_are_checked_before_any_image_is_read(tmp_path):
    with pytest.raises(BiasReportError, match="between 0 and 127"):
        _options(tmp_path, near_dup_radius=200).validate()
    with pytest.raises(BiasReportError, match="given twice"):
        _options(tmp_path, splits=[("x", tmp_path), ("x", tmp_path)]).validate()
    with pytest.raises(BiasReportError, match="reserved"):
        _options(tmp_path, splits=[("dataset", tmp_path)]).validate()
    with pytest.raises(BiasReportError, match="does not exist"):
        _options(tmp_path, splits=[("test", tmp_path / "missing")]).validate()


def test_reference_distribution_is_normalised_and_checked(tmp_path):
    path = tmp_path / "ref.json"
    path.write_text(json.dumps({"group": {"a": 2, "b": 2}}))
    assert read_reference(path, ["group"]) == {"group": {"a": 0.5, "b": 0.5}}
    with pytest.raises(BiasReportError, match="names the attribute 'group'"):
        read_reference(path, ["age"])
    path.write_text("{")
    with pytest.raises(BiasReportError, match="not readable JSON"):
        read_reference(path, ["group"])


def test_bootstrap_share_interval_covers_the_binomial_one():
    rng = np.random.default_rng(0)
    low, high = bootstrap_shares(np.array([10, 90]), 4000, 0.95, rng)
    # Normal approximation of the binomial 95% interval for p = 0.1, n = 100: 0.041 - 0.159.
    assert low[0] == pytest.approx(0.041, abs=0.012) and high[0] == pytest.approx(0.159, abs=0.012)


def test_report_jobs_resolve_only_under_the_root(tmp_path):
    from service.bias.jobs import PathRefused, ReportJobs, ReportsDisabled, ReportSettings
    from service.bias.store import FAILED, ReportJob, create_tables
    from service.db import make_engine, make_session_factory

    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    create_tables(engine)
    factory = make_session_factory(engine)
    with factory() as session:  # left running by a process that died
        session.add(ReportJob(id="old", status="running", request={}))
        session.commit()
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    jobs = ReportJobs(factory, ReportSettings(root=root, out_root=tmp_path / "out", detector=None))
    try:
        assert jobs.get("old").status == FAILED
        assert jobs.get("old").error["code"] == "interrupted"
        assert jobs.resolve("data", "dataset") == (root / "data").resolve()
        assert jobs.resolve(str(root / "data"), "dataset") == (root / "data").resolve()
        with pytest.raises(PathRefused):
            jobs.resolve("data/../..", "dataset")
        with pytest.raises(FileNotFoundError):
            jobs.resolve("missing", "dataset")
    finally:
        jobs.close()
    off = ReportJobs(factory, ReportSettings(root=None, out_root=tmp_path / "out", detector=None))
    try:
        with pytest.raises(ReportsDisabled, match="PROVAUDIT_REPORTS_ROOT"):
            off.resolve("data", "dataset")
    finally:
        off.close()
    engine.dispose()
