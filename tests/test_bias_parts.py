"""The bias report's parts on small real inputs: scanning, sidecars, hashing search, stats."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from provenance.hashindex import brute_force_search, hex_to_codes
from service.bias.dataset import scan_dataset
from service.bias.images import BatchAnalyser, quality_stats
from service.bias.neardup import near_pairs, plan_search
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


def _all_pairs(hexes: list[str], radius: int) -> set[tuple[int, int]]:
    """The oracle: every pair within the radius, by numpy popcount against every code."""
    codes = hex_to_codes(hexes, len(hexes[0]) * 4)
    return {
        (a, int(b))
        for a, hits in enumerate(brute_force_search(codes, codes, radius))
        for b in hits
        if a < b
    }


@pytest.mark.parametrize(
    ("nbytes", "radius"), [(32, 31), (32, 15), (32, 10), (8, 8), (8, 3), (8, 0)]
)
def test_faiss_search_finds_exactly_the_all_pairs_answer(nbytes, radius):
    hexes = _random_codes(1500, nbytes, radius, seed=radius)
    truth = _all_pairs(hexes, radius)
    assert len(truth) > 50
    # Small query batches: pairs found across batches are kept once, in order.
    pairs, distances, info = near_pairs(hexes, radius, batch=256)
    assert {tuple(p) for p in pairs.tolist()} == truth
    assert len(pairs) == len(truth)
    assert info["plan"]["exact"] and info["plan"]["engine"] == "faiss.IndexBinaryMultiHash"
    codes = hex_to_codes(hexes, nbytes * 8)
    expected = np.bitwise_count(codes[pairs[:, 0]] ^ codes[pairs[:, 1]]).sum(axis=1)
    assert distances.tolist() == expected.tolist()
    # FAISS shortlists far fewer candidates than the n^2/2 pairs a full comparison checks.
    assert 0 < info["candidates"] < 1500 * 1499 / 2 / 10
    one_thread, _, _ = near_pairs(hexes, radius, threads=1)
    assert {tuple(p) for p in one_thread.tolist()} == truth
    if radius < nbytes // 2:  # one flip per 32-bit table: the layout chosen at scale
        wide, _, wide_info = near_pairs(hexes, radius, nhash=nbytes // 4)
        assert {tuple(p) for p in wide.tolist()} == truth and wide_info["plan"]["b"] == 32


def test_search_plan_is_exact_and_linear_at_the_default_radii():
    from service.bias.options import DEFAULT_PDQ_RADIUS, DEFAULT_PHASH_RADIUS

    for bits, radius in ((256, DEFAULT_PDQ_RADIUS), (64, DEFAULT_PHASH_RADIUS)):
        small, large = plan_search(bits, radius, 10_000), plan_search(bits, radius, 10_000_000)
        assert small.exact and large.exact
        # At scale 32-bit tables: a constant shortlist per query, so cost linear in n.
        assert large.b == 32 and large.expected_candidates(10_000_000) < 2 * large.nhash
    wide = plan_search(256, 31, 1_000_000)
    assert wide.exact and wide.nhash * (wide.nflip + 1) > 31
    assert plan_search(64, 0, 100).nflip == 0


def test_identical_hashes_expand_to_every_pair():
    hexes = ["ab" * 32] * 4 + ["ab" * 31 + "aa"] + ["00" * 32]
    pairs, distances, info = near_pairs(hexes, 1)
    found = dict(zip(map(tuple, pairs.tolist()), distances.tolist(), strict=True))
    assert info["unique_codes"] == 3
    assert found == {
        **{(a, b): 0 for a in range(4) for b in range(a + 1, 4)},
        **{(a, 4): 1 for a in range(4)},
    }
    assert near_pairs(hexes[:1], 15)[0].shape == (0, 2)
    assert near_pairs(hexes[:4], 15)[0].tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]


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
        _options(tmp_path, near_dup_hash="pdq", near_dup_radius=200).validate()
    # The default, two 64-bit pHashes per image, allows at most 31 bits.
    with pytest.raises(BiasReportError, match="between 0 and 31 bits for phash-centre"):
        _options(tmp_path, near_dup_radius=40).validate()
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
    from service.db import make_engine, make_session_factory
    from service.report_jobs import PathRefused, ReportJobs, ReportsDisabled, ReportSettings
    from service.report_store import FAILED, ReportJob

    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
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


def test_thumbnails_stay_within_their_budget_and_skip_unreadable_files(tmp_path):
    import base64

    from service.bias.thumbs import THUMB_SIDE, make_thumbnails

    paths = {}
    rng = np.random.default_rng(0)
    for k in range(6):
        path = tmp_path / f"{k}.png"
        Image.fromarray(rng.integers(0, 256, (300, 200, 3), dtype=np.uint8)).save(path)
        paths[f"{k}.png"] = path
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nxx")
    paths["bad.png"] = tmp_path / "bad.png"
    everything = make_thumbnails(["bad.png", *[f"{k}.png" for k in range(6)], "0.png"], paths)
    assert list(everything.uris) == [f"{k}.png" for k in range(6)]
    assert everything.left_out == 1
    header, data = everything.uris["0.png"].split(",", 1)
    assert header in ("data:image/webp;base64", "data:image/jpeg;base64")
    with Image.open(io.BytesIO(base64.b64decode(data))) as thumb:
        assert max(thumb.size) == THUMB_SIDE and thumb.size[0] < thumb.size[1]
    one = len(base64.b64decode(data))
    # Bounded both ways: by count, and by encoded bytes, first asked first served.
    assert list(make_thumbnails(list(paths), paths, max_thumbs=2).uris) == ["0.png", "1.png"]
    budget = make_thumbnails(list(paths), paths, max_bytes=int(2.5 * one))
    assert budget.encoded_bytes <= 2.5 * one and 1 <= len(budget.uris) <= 3
    assert budget.left_out == len(paths) - len(budget.uris)


def test_a_parquet_list_without_a_path_column_or_with_a_repeat_is_one_clear_error(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    listing = tmp_path / "list.parquet"
    pq.write_table(pa.Table.from_pylist([{"file_name": "a.png"}]), listing)
    with pytest.raises(BiasReportError, match=r"no path column.*file_name"):
        scan_dataset(ReportOptions(dataset=listing))
    pq.write_table(pa.Table.from_pylist([{"path": "a.png"}, {"path": "a.png"}]), listing)
    with pytest.raises(BiasReportError, match=r"row 2 repeats a\.png"):
        scan_dataset(ReportOptions(dataset=listing))
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(BiasReportError, match="not a readable Parquet file"):
        scan_dataset(ReportOptions(dataset=tmp_path / "bad.parquet"))
    pq.write_table(
        pa.Table.from_pylist(
            [
                {"path": "b.png", "split": "test", "label": "fake", "family": "gan", "age": "30"},
                {"path": "/elsewhere/a.png", "split": None, "label": "real", "family": None,
                 "age": None},
            ]
        ),
        listing,
    )  # fmt: skip
    dataset = scan_dataset(ReportOptions(dataset=listing))
    first, second = dataset.entries
    assert (first.key, first.split, first.label) == ("/elsewhere/a.png", "dataset", "real")
    assert (second.key, second.split, second.label, second.family) == (
        "b.png", "test", "generated", "gan",
    )  # fmt: skip
    assert second.attributes == {"age": "30"} and first.attributes == {}
    assert dataset.split_names == ["dataset", "test"] and dataset.attribute_names == ["age"]


def test_bootstrap_counts_read_each_resample_as_fairlearn_does():
    """The detector intervals are drawn as (group, label, verdict) counts instead of rows:
    on any resample (rows weighted by how often it drew them) the rates, differences and
    equalized odds from the counts are fairlearn's own on the rows."""
    from fairlearn.metrics import (
        MetricFrame,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    from service.bias.fairness import _rates, equalized_odds_from_counts

    rng = np.random.default_rng(7)
    n = 240
    groups = np.array(["a", "b", "c"], dtype=object)[rng.integers(0, 3, n)]
    y = rng.integers(0, 2, n)
    p = (rng.random(n) < np.where(groups == "c", 0.7, 0.3)).astype(np.int64)
    metrics = {
        "selection_rate": selection_rate,
        "false_positive_rate": false_positive_rate,
        "true_positive_rate": true_positive_rate,
    }
    for _ in range(4):
        weights = rng.multinomial(n, np.full(n, 1.0 / n)).astype(np.float64)
        frame = MetricFrame(
            metrics=metrics,
            y_true=y,
            y_pred=p,
            sensitive_features=groups,
            sample_params={name: {"sample_weight": weights} for name in metrics},
        )
        index = frame.by_group.index.get_indexer(groups)
        counts = np.bincount(index * 4 + y * 2 + p, weights=weights, minlength=12)
        rates = _rates(counts.reshape(3, 2, 2))
        overall = _rates(counts.reshape(3, 2, 2).sum(axis=0))
        for name in metrics:
            assert rates[name] == pytest.approx(frame.by_group[name].to_numpy())
            assert overall[name] == pytest.approx(frame.overall[name])
        assert rates["selection_rate"].max() - rates["selection_rate"].min() == pytest.approx(
            frame.difference()["selection_rate"]
        )
        assert equalized_odds_from_counts(counts.reshape(3, 2, 2)) == pytest.approx(
            equalized_odds_difference(y, p, sensitive_features=groups, sample_weight=weights)
        )
    # A group without real images has a false-positive rate of 0, as scikit-learn gives it.
    assert _rates(np.array([[0, 0], [3, 5]]))["false_positive_rate"] == 0.0


def test_the_attribute_classifier_trains_on_a_bounded_seeded_sample(monkeypatch):
    """Past MAX_TRAINING_IMAGES labelled real images the classifier trains on a seeded
    sample, and the driver keeps feature vectors for that sample only."""
    from service.bias import generator_bias
    from service.bias.images import FEATURE_LENGTH

    monkeypatch.setattr(generator_bias, "MAX_TRAINING_IMAGES", 16)
    labels: list[str | None] = ["real"] * 40 + ["generated"] * 6
    values = ["ab"[k % 2] for k in range(40)] + [None] * 6
    attributes = [{"g": v} if v else {} for v in values]
    keep = generator_bias.images_needing_features(labels, attributes, seed=3)
    assert keep[:40].sum() == 16 and keep[40:].all()
    assert (keep == generator_bias.images_needing_features(labels, attributes, seed=3)).all()
    assert (keep != generator_bias.images_needing_features(labels, attributes, seed=4)).any()

    index = np.flatnonzero(keep)
    rng = np.random.default_rng(0)
    # Every feature tells the value: b images are brighter (generated ones too).
    side = np.array([1.0 if values[i] == "b" or (i >= 40 and i % 2) else 0.0 for i in index])
    features = side[:, None] + 0.1 * rng.random((len(index), FEATURE_LENGTH))
    table = {
        "ok": np.ones(len(labels), bool),
        "features": features.astype(np.float32),
        "features_index": index.astype(np.int64),
    }
    section = generator_bias.generator_section(
        table,
        labels,
        ["gan"] * 46,
        ["dataset"] * 46,
        {"g": values},
        ReportOptions(dataset=Path(".")),
    )
    assert section["classifiers"]["g"]["images"] == 16
    assert section["families"]["gan"]["attributes"]["g"]["classified"] == 6
