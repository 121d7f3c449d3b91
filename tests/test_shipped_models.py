"""The checkpoints that ship in the repository load, verify their digests and run."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO_ROOT, make_image

GENERATORS = REPO_ROOT / "generators" / "weights"
DETECTOR = REPO_ROOT / "detectors" / "weights" / "default"


def test_default_detector_loads_on_onnxruntime_and_scores():
    from service.ai_origin import BUNDLED_DETECTOR, load_detector

    assert BUNDLED_DETECTOR == DETECTOR
    detector = load_detector(None)
    try:
        assert detector is not None
        assert 0.0 < detector.threshold < 1.0
        result = detector.score(make_image((96, 80)))
        assert 0.0 <= result["p_ai"] <= 1.0
        assert set(result["attribution"]["probs"]) == {"real", "diffusion", "gan", "vae"}
    finally:
        detector.close()
    assert (DETECTOR / "MODEL_CARD.md").is_file()


# Every shipped generator; a prompted one is asked for one of the kinds it learned.
SHIPPED_GENERATORS = ["gan", "vae", "diffusion", "pixelcnn", "style", "text_diffusion"]


@pytest.mark.parametrize("family", SHIPPED_GENERATORS)
def test_shipped_generator_generates_signed_images_on_onnx(family, tmp_path):
    from generators.conditioning import Condition
    from generators.layout import read_labels
    from generators.sample import generate
    from provenance.keys import default_identity
    from provenance.verify import ProvenanceVerifier

    checkpoint = GENERATORS / family
    assert (checkpoint / "MODEL_CARD.md").is_file()
    assert json.loads((checkpoint / "config.json").read_text())["family"] == family
    condition = Condition(prompt="gradient") if family == "text_diffusion" else None
    generate(checkpoint, 2, tmp_path, sampling_steps=5, seed=1, backend="onnx", condition=condition)
    (label, *_rest) = read_labels(tmp_path)
    image = tmp_path / label["path"]
    identity, _ = default_identity()
    report = ProvenanceVerifier(identity.root_pem).verify_file(image)
    assert report.state == "trusted" and report.ai_declared
    assert report.generator["family"] == family


def test_model_cards_quote_the_shipped_figures():
    """A retrained model with a stale card would claim figures it no longer has."""
    for family in SHIPPED_GENERATORS:
        figures = json.loads((GENERATORS / family / "evaluation.json").read_text())
        card = (GENERATORS / family / "MODEL_CARD.md").read_text()
        assert f"| {figures['kid']:.4f} ± {figures['kid_std']:.4f} |" in card, family
        config = json.loads((GENERATORS / family / "config.json").read_text())
        assert f"{config['training']['steps']} steps at batch" in card, family
    evaluation = json.loads((DETECTOR / "evaluation.json").read_text())
    card = (DETECTOR / "MODEL_CARD.md").read_text()
    assert f"| in-family AP | {evaluation['clean']['ap']:.4f} |" in card
    loo = json.loads((DETECTOR / "leave-one-family-out.json").read_text())
    for family, held_out in loo["held_out"].items():
        assert f"| {family} | {held_out['ap']:.3f} |" in card
    # The experts shipped beside the fusion are the ones it was built from.
    fusion = json.loads((DETECTOR / "config.json").read_text())["detector"]["training"]
    for expert in fusion["experts"]:
        shipped = json.loads((DETECTOR / expert["checkpoint"] / "config.json").read_text())
        assert shipped["weights"]["sha256"] == expert["weights_sha256"]
        assert f"best validation AP {expert['training']['best_val_ap']:.4f}" in card


def test_default_detector_limits_are_written_from_its_records():
    """The limits quote no figure of their own: each comes from a record beside the model."""
    import re

    from detectors.model_card import render_limits

    template = (DETECTOR.parent / "default-limits.md").read_text()
    literal = re.sub(r"\{[a-z0-9_]+\}", "", template)
    assert not re.findall(r"\d+(?:\.\d+)?\s*%|\b0\.\d+\b(?!×)", literal)
    card = (DETECTOR / "MODEL_CARD.md").read_text()
    limits = card.split("## Limits, in plain words\n\n", 1)[1]
    assert limits.strip() == render_limits(template.strip(), DETECTOR).strip()


def test_default_detector_card_reports_images_it_never_trained_on():
    card = (DETECTOR / "MODEL_CARD.md").read_text()
    for record, heading in (
        ("leave-sources-out.json", "## Real photos it never trained on"),
        ("human-made.json", "## Human-made images it never trained on"),
    ):
        figures = json.loads((DETECTOR / record).read_text())
        assert heading in card
        for source, result in figures["sources"].items():
            rate = result["overall"]["ai_rate"]
            assert f"| {source} | {result['variants']['as_sent']['images']} |" in card
            assert f" {100 * rate:.1f}% |" in card, source
    # Every real photo source was held out in some fold, and no fold trained on it.
    loso = json.loads((DETECTOR / "leave-sources-out.json").read_text())
    held_out = [source for fold in loso["folds"] for source in fold["held_out"]]
    assert sorted(held_out) == sorted(loso["sources"])


def test_the_reference_page_quotes_the_shipped_detectors_records():
    """docs/detectors.md's table of the shipped detector is written from its records."""
    import re

    page = (REPO_ROOT / "docs" / "detectors.md").read_text()
    rows = dict(re.findall(r"^\| (.+?) \| (.+?) \|$", page, re.M))

    def row(starting: str) -> str:
        (value,) = [v for k, v in rows.items() if k.startswith(starting)]
        return value

    loo = json.loads((DETECTOR / "leave-one-family-out.json").read_text())["held_out"]
    expected = ", ".join(
        f"{family} {entry['ap']:.3f} / {entry['fake_accuracy']:.3f}"
        for family, entry in sorted(loo.items())
    )
    assert row("leave-one-family-out AP") == expected

    evaluation = json.loads((DETECTOR / "evaluation.json").read_text())
    clean = evaluation["clean"]
    assert row("in-family AP") == (
        f"{clean['ap']:.4f}, {clean['fake_accuracy']:.3f}, {evaluation['calibration']['ece']:.3f}"
    )

    sources = json.loads((DETECTOR / "leave-sources-out.json").read_text())["sources"]
    outcomes = sum(entry["overall"]["images"] for entry in sources.values())
    called = sum(entry["overall"]["ai"] for entry in sources.values())
    unsure = sum(entry["overall"]["inconclusive"] for entry in sources.values())
    met = sum(
        entry["overall"]["ai_rate"] <= 0.02 and entry["overall"]["inconclusive_rate"] <= 0.15
        for entry in sources.values()
    )
    photos = row("real photos from sources left out")
    assert photos.startswith(f"{met} of {len(sources)} sources met")
    assert (
        f"{100 * called / outcomes:.1f} % of all {outcomes} outcomes called AI, "
        f"{100 * unsure / outcomes:.1f} % inconclusive"
    ) in photos
