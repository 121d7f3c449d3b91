"""The C2PA Asset Rubrics' local signals (``asset-rubric-signals-local.yml``, version 1.0),
evaluated over each manifest of a store in its crJSON form.

The rubric states its rules in json-formula, for which no package exists on the registry;
each rule is written here in Python instead, one function per rule, and
``tests/test_rubrics.py`` checks the table against the rubric file itself (rule ids, the
digital source types each inception rule names, the variable lists, the report texts),
so a newer rubric that changes a rule fails the tests rather than drifting silently.

One deliberate difference: the rubric compares ``digitalSourceType`` with the
``http://`` vocabulary URI only. Producers also write ``https://`` (Adobe Firefly) and the
bare term, which name the same term; they are matched here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from provenance.signing import source_type_term

RUBRIC = "C2PA Asset Signals Rubric (Local) 1.0"
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
C2PA_DST = "http://c2pa.org/digitalsourcetype/"

INCEPTION_ACTIONS = ("c2pa.created", "c2pa.opened")
NON_EDITORIAL_ACTIONS = (
    "c2pa.converted",
    "c2pa.published",
    "c2pa.repackaged",
    "c2pa.transcoded",
    "c2pa.resized.proportional",
    "c2pa.enhanced",
    "c2pa.edited.metadata",
    "c2pa.watermarked",
    "c2pa.watermarked.bound",
    "c2pa.watermarked.unbound",
    "c2pa.redacted",
)
GENAI_DST_TYPES = (
    IPTC + "trainedAlgorithmicMedia",
    IPTC + "compositeWithTrainedAlgorithmicMedia",
    IPTC + "compositeSynthetic",
    C2PA_DST + "trainedAlgorithmicData",
)
POSSIBLY_GENAI_DST_TYPES = (IPTC + "digitalArt", IPTC + "composite")

# Inception rules: the manifest was created (or opened) with one of these source types.
INCEPTION_DST: dict[str, tuple[str, ...]] = {
    "inception:signal_blankCanvas": (C2PA_DST + "empty",),
    "inception:signal_capturedMedia": (IPTC + "digitalCapture", IPTC + "computationalCapture"),
    "inception:signal_capturedMediaStitched": (IPTC + "compositeCapture",),
    "inception:signal_compositionMayContainGenAI": (IPTC + "composite",),
    "inception:signal_fullyGenAIMedia": (IPTC + "trainedAlgorithmicMedia",),
    "inception:signal_nonGenAIDigitalCreation": (IPTC + "digitalCreation",),
    "inception:signal_partlyGenAICreation": (IPTC + "compositeWithTrainedAlgorithmicMedia",),
    "inception:signal_screenCaptureMayContainGenAI": (IPTC + "screenCapture",),
}

REPORT_TEXT = {
    "inception:signal_blankCanvas": "Contains Blank Canvas",
    "inception:signal_capturedMedia": "Contains Captured Media",
    "inception:signal_capturedMediaStitched": "Contains Stitched Captured Media",
    "inception:signal_compositionMayContainGenAI": (
        "Contains Composition which may contain GenAI content"
    ),
    "inception:signal_fullyGenAIMedia": "Contains Fully GenAI Media",
    "inception:signal_mediaUnknownProvenance": "Contains Media of Unknown Provenance",
    "inception:signal_nonGenAIDigitalCreation": "Contains Non-GenAI digital creation",
    "inception:signal_partlyGenAICreation": "Contains Partly GenAI Creation",
    "inception:signal_screenCaptureMayContainGenAI": (
        "Contains Screen Capture Which May Contain GenAI Content"
    ),
    "transformation:signal_ambiguousActions": "Contains ambiguous actions",
    "transformation:signal_nonEditorial": "Contains Non-editorial Transformations",
    "transformation:signal_perceptibleGenAI": "Contains Perceptible GenAI Transformations",
    "transformation:signal_perceptibleNonGenAI": "Contains Perceptible Non-GenAI Transformations",
    "transformation:signal_perceptiblePossiblyGenAI": (
        "Contains Perceptible Transformations Possibly Using GenAI"
    ),
}


@dataclass(frozen=True)
class AssetSignal:
    """One rubric signal that holds for one manifest of the store."""

    id: str
    text: str
    manifest: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _same_type(value: Any, uris: tuple[str, ...]) -> bool:
    """``value in uris``, with https URIs and bare terms read as the http URI they name."""
    if not isinstance(value, str):
        return False
    if value in uris:
        return True
    term = source_type_term(value)
    return term is not None and IPTC + term in uris


def _actions_assertion(manifest: dict[str, Any]) -> dict[str, Any]:
    assertion = (manifest.get("assertions") or {}).get("c2pa.actions.v2")
    return assertion if isinstance(assertion, dict) else {}


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    actions = _actions_assertion(manifest).get("actions")
    return [a for a in actions if isinstance(a, dict)] if isinstance(actions, list) else []


def _created_with(manifest: dict[str, Any], uris: tuple[str, ...]) -> bool:
    return any(
        action.get("action") in INCEPTION_ACTIONS
        and _same_type(action.get("digitalSourceType"), uris)
        for action in _actions(manifest)
    )


def _transformations(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Actions other than inception and non-editorial ones: what changes what one sees."""
    return [
        action
        for action in _actions(manifest)
        if action.get("action") is not None
        and action.get("action") not in INCEPTION_ACTIONS
        and action.get("action") not in NON_EDITORIAL_ACTIONS
    ]


def _media_unknown_provenance(manifest: dict[str, Any]) -> bool:
    ingredient = (manifest.get("assertions") or {}).get("c2pa.ingredient.v3")
    return isinstance(ingredient, dict) and ingredient.get("activeManifest") is None


def _ambiguous_actions(manifest: dict[str, Any]) -> bool:
    actions = _actions(manifest)
    gathered = (manifest.get("claim.v2") or {}).get("gathered_assertions") or []
    return (
        not actions
        or _actions_assertion(manifest).get("allActionsIncluded") is not True
        or any(
            isinstance(a.get("action"), str) and not a["action"].startswith("c2pa.")
            for a in actions
        )
        or any(a.get("action") == "c2pa.unknown" for a in actions)
        or any("c2pa.actions" in str(entry.get("url", "")) for entry in gathered)
    )


def _non_editorial(manifest: dict[str, Any]) -> bool:
    return any(action.get("action") in NON_EDITORIAL_ACTIONS for action in _actions(manifest))


def _perceptible_genai(manifest: dict[str, Any]) -> bool:
    return any(
        _same_type(a.get("digitalSourceType"), GENAI_DST_TYPES) for a in _transformations(manifest)
    )


def _perceptible_non_genai(manifest: dict[str, Any]) -> bool:
    return any(
        a.get("digitalSourceType") is not None
        and not _same_type(a.get("digitalSourceType"), GENAI_DST_TYPES)
        for a in _transformations(manifest)
    )


def _perceptible_possibly_genai(manifest: dict[str, Any]) -> bool:
    return any(
        _same_type(a.get("digitalSourceType"), POSSIBLY_GENAI_DST_TYPES)
        for a in _transformations(manifest)
    )


def _inception(uris: tuple[str, ...]) -> Callable[[dict[str, Any]], bool]:
    return lambda manifest: _created_with(manifest, uris)


RULES: dict[str, Callable[[dict[str, Any]], bool]] = {
    **{rule: _inception(uris) for rule, uris in INCEPTION_DST.items()},
    "inception:signal_mediaUnknownProvenance": _media_unknown_provenance,
    "transformation:signal_ambiguousActions": _ambiguous_actions,
    "transformation:signal_nonEditorial": _non_editorial,
    "transformation:signal_perceptibleGenAI": _perceptible_genai,
    "transformation:signal_perceptibleNonGenAI": _perceptible_non_genai,
    "transformation:signal_perceptiblePossiblyGenAI": _perceptible_possibly_genai,
}


def manifest_signals(manifest: dict[str, Any]) -> list[str]:
    """The ids of the rubric's rules that hold for one crJSON manifest, in rubric order."""
    return [rule for rule in sorted(RULES) if RULES[rule](manifest)]


def asset_signals(crjson: dict[str, Any]) -> list[AssetSignal]:
    """Every signal of every manifest of a crJSON store, the active manifest's first."""
    signals = []
    for manifest in crjson.get("manifests") or []:
        label = str(manifest.get("label", ""))
        signals += [
            AssetSignal(rule, REPORT_TEXT[rule], label) for rule in manifest_signals(manifest)
        ]
    return signals
