"""The audit itself: every signal computed separately, then combined into a verdict.

A missing manifest is "no provenance signal", never evidence of authenticity. The verdict
policy (docs/api.md, "Verdict policy", has it as a table, one test per row in
tests/test_verdict_policy.py), first rule that applies:

1. ``declared_ai``: an intact C2PA manifest (trusted or valid) declares generative AI, in
   its own actions or in those of a ``parentOf`` / ``componentOf`` ingredient's manifest.
2. ``declared_ai_recovered``: no intact manifest, and the closest recorded manifest the
   file's pixels match (soft-binding recovery: the one its invisible watermark names, else
   the closest fingerprint match) declares generative AI. It is a separate verdict because
   a match is evidence about the pixels, not a signature over this file: a client that
   treats ``declared_ai`` as "signed declaration" must not be told one exists.
   ``declared_by`` says ``recovered_watermark`` or ``recovered_fingerprint``.
3. Equally close matches (same signal, same distance) that disagree, some declaring AI and
   some not: ``inconclusive``, said in one reason; the detector does not overrule a
   disagreement, since a "likely real" beside a recorded AI declaration is what a reader
   would take as a contradiction.
4. ``declared_ai``: the file's own unsigned IPTC metadata declares AI
   (``declared_by`` ``iptc_metadata``).
5. ``likely_ai`` / ``likely_real``: the detector's score is above / below its calibrated
   threshold; ``inconclusive`` when there is no score or the detector abstains (its
   verdict flips under a small re-encode, or rests on a few tiles).

``matches`` comes from the registry (``provenance.store``): for a file without an
intact manifest, the manifests provaudit signed whose image it matches (the one its
invisible watermark names first, then fingerprint matches, closest first; ``closest``
marks the ones rule 2 or 3 looked at), and, for every file, the hash-bank content it
matches. Bank matches carry no declaration and never change the verdict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from provenance.errors import InputError
from provenance.hashquery import HashQuery
from provenance.media import check_media, decode_image
from provenance.recovery import ManifestMatch, read_watermark
from provenance.store import FingerprintStore
from provenance.verify import UNREADABLE_MANIFEST, ProvenanceReport, ProvenanceVerifier

Verdict = Literal[
    "declared_ai", "declared_ai_recovered", "likely_ai", "likely_real", "inconclusive"
]
DeclaredBy = Literal[
    "c2pa_manifest",
    "c2pa_ingredient",
    "recovered_watermark",
    "recovered_fingerprint",
    "iptc_metadata",
]
VERDICTS: tuple[Verdict, ...] = (
    "declared_ai",
    "declared_ai_recovered",
    "likely_ai",
    "likely_real",
    "inconclusive",
)


class AiOriginScorer(Protocol):
    """What the service needs of a detector (the ONNX one arrives with the detectors)."""

    model_id: str
    threshold: float

    def score(self, image: Any) -> dict[str, Any] | None:
        """p_ai, label, threshold, attribution, model_id; None when the image is unscorable."""

    def close(self) -> None: ...


@dataclass
class AuditResult:
    sha256: str
    filename: str | None
    ai_origin: dict[str, Any] | None
    provenance: dict[str, Any]
    fingerprints: dict[str, Any] | None
    matches: list[dict[str, Any]]
    verdict: Verdict
    reasons: list[str]
    declared_by: DeclaredBy | None = None
    """For ``declared_ai``: a signed manifest's own actions, a signed ingredient's (the
    inception of a file later edited or converted), or the file's unsigned IPTC metadata;
    for ``declared_ai_recovered``: the recorded manifest found by watermark or fingerprint."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def provenance_summary(report: ProvenanceReport) -> dict[str, Any]:
    """The audit's provenance block: the verify report plus the headline fields."""
    data = report.to_dict()
    data["problems"] = report.failure_codes + [
        f"ingredient:{code}" for code in report.ingredient_problem_codes
    ]
    return data


def _carry_on() -> None:
    """The default checkpoint: nothing asks the audit to stop."""


class AuditPipeline:
    def __init__(
        self,
        verifier: ProvenanceVerifier,
        scorer: AiOriginScorer | None = None,
        fingerprints: FingerprintStore | None = None,
    ) -> None:
        self.verifier = verifier
        self.scorer = scorer
        self.fingerprints = fingerprints

    def audit(
        self,
        data: bytes,
        filename: str | None = None,
        *,
        thumbnails: bool = False,
        checkpoint: Callable[[], None] = _carry_on,
    ) -> AuditResult:
        """``checkpoint`` runs between the stages and may raise to stop the audit there: the
        service passes anyio's ``from_thread.check_cancelled``, so an upload whose request
        timed out stops decoding, hashing and scoring instead of finishing unseen."""
        name = filename or "upload"
        media = check_media(data, name)
        if not media.is_image:
            raise InputError(f"{name} is a {media.format.upper()}, not an image.")
        report = self.verifier.verify(media, inline_thumbnails=thumbnails)
        checkpoint()
        image = decode_image(media.data, name)
        checkpoint()
        # The eight dihedral PDQ hashes cost one DCT, as much as the plain hash.
        query = HashQuery.from_image(image, dihedral=True)
        checkpoint()
        # Where recovery will run (no intact manifest), the watermark is read from the
        # pixels before they are dropped: its payload names a manifest directly. Every
        # unsigned upload pays for this read, so it skips the crop search (resized and
        # re-encoded copies still read; `verify --recover` also searches crops).
        watermark = (
            read_watermark(image, search_crops=False)
            if self.fingerprints is not None and report.state in ("absent", "invalid")
            else None
        )
        checkpoint()
        ai_origin = self.scorer.score(image) if self.scorer is not None else None
        del image  # the largest thing an audit holds; matching needs only the hashes
        checkpoint()
        recovered = self.recovered(query, report, watermark=watermark)
        decision = decide(report, ai_origin, recovered)
        matches, bank_reasons = self.matches(query, recovered)
        # Right after the provenance sentence (and the recovery one), before the rest.
        decision.reasons[1 + bool(recovered) : 1 + bool(recovered)] = bank_reasons
        return AuditResult(
            sha256=hashlib.sha256(data).hexdigest(),
            filename=filename,
            ai_origin=ai_origin,
            provenance=provenance_summary(report),
            fingerprints=query.fingerprints(),
            matches=matches,
            verdict=decision.verdict,
            reasons=decision.reasons,
            declared_by=decision.declared_by,
        )

    def recovered(
        self, query: HashQuery, report: ProvenanceReport, *, watermark: int | None = None
    ) -> list[ManifestMatch]:
        """For a file without an intact manifest: the recorded manifests its pixels match,
        the one its ``watermark`` payload names first, then fingerprint matches."""
        if self.fingerprints is None or report.state not in ("absent", "invalid"):
            return []
        return self.fingerprints.manifests.recover_query(query, watermark=watermark, max_results=5)

    def matches(
        self, query: HashQuery, recovered: Sequence[ManifestMatch] = ()
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """The recovered manifests (``closest`` marking the ones the verdict looked at) and
        the hash-bank matches, with a reason per bank."""
        closest = {id(match) for match in closest_matches(recovered)}
        found: list[dict[str, Any]] = [
            {"kind": "manifest", **match.to_dict(), "closest": id(match) in closest}
            for match in recovered
        ]
        reasons: list[str] = []
        if self.fingerprints is None:
            return found, reasons
        for bank, hits in self.fingerprints.banks.lookup([query])[0].items():
            for hit in hits:
                found.append({"kind": "bank", "bank": bank, **hit})
            best = hits[0]
            reasons.append(
                f"Matches content {best['bank_content_id']} of hash bank {bank} at distance "
                f"{best['distance']} ({best['signal']})."
            )
        return found, reasons


def closest_matches(recovered: Sequence[ManifestMatch]) -> list[ManifestMatch]:
    """The matches as close as the first (recovery order: the watermark's manifest, then
    PDQ, ISCC, pHash, closest first): same signal, same distance. A watermark names one
    manifest, so it is never tied."""
    if not recovered:
        return []
    best = recovered[0]
    return [m for m in recovered if (m.signal, m.distance) == (best.signal, best.distance)]


def _how(match: ManifestMatch) -> str:
    if match.signal == "watermark":
        return "watermark"
    how = {"pdq": "PDQ", "phash": "pHash", "iscc": "ISCC"}[match.signal]
    if match.variant != "original":
        how += f", {match.variant}"
    return f"distance {match.distance}, {how}"


def _recovery_reason(closest: list[ManifestMatch], report: ProvenanceReport) -> str:
    """One sentence for the closest recovered manifest(s), saying whether they declare AI."""
    prefix = (
        "The file's own manifest fails validation"
        if report.state == "invalid"
        else "No manifest in the file"
    )
    if len(closest) == 1:
        sentence = closest[0].reason().replace("No manifest in the file", prefix, 1)
        if closest[0].manifest.ai_declared:
            return sentence + " That manifest declares generative AI."
        return sentence + " That manifest declares no generative AI."
    ai = [m.manifest.manifest_id for m in closest if m.manifest.ai_declared]
    not_ai = [m.manifest.manifest_id for m in closest if not m.manifest.ai_declared]
    sentence = (
        f"{prefix}; it matches {len(closest)} recorded manifests equally closely "
        f"({_how(closest[0])}): "
    )
    if ai and not_ai:
        return sentence + (
            f"{len(ai)} {'declares' if len(ai) == 1 else 'declare'} generative AI "
            f"({', '.join(ai)}) and {len(not_ai)} {'does' if len(not_ai) == 1 else 'do'} not "
            f"({', '.join(not_ai)}), so which one this file comes from, and whether it was "
            "declared AI, cannot be told."
        )
    if ai:
        return sentence + "all of them declare generative AI."
    return sentence + "none of them declares generative AI."


def declared_by(report: ProvenanceReport) -> DeclaredBy | None:
    """Which declaration of generative AI in the file itself the verdict could rest on,
    signed ones first (a recovered one is ``decide``'s, which knows the matches)."""
    if report.state in ("trusted", "valid") and report.ai_declaration is not None:
        return "c2pa_manifest" if report.ai_declaration.where == "active" else "c2pa_ingredient"
    if report.iptc is not None and report.iptc.ai_declared:
        return "iptc_metadata"
    return None


@dataclass
class Decision:
    verdict: Verdict
    reasons: list[str]
    declared_by: DeclaredBy | None


def combine(
    report: ProvenanceReport,
    ai_origin: dict[str, Any] | None,
    recovered: Sequence[ManifestMatch] = (),
) -> tuple[Verdict, list[str]]:
    """``decide``'s verdict and reasons."""
    decision = decide(report, ai_origin, recovered)
    return decision.verdict, decision.reasons


def _provenance_sentence(report: ProvenanceReport) -> str:
    if report.state == "absent":
        return "No C2PA manifest: no provenance signal (this is not evidence of authenticity)."
    if report.state == "invalid" and report.failure_codes == [UNREADABLE_MANIFEST]:
        explanation = (report.failures[0].explanation or "").rstrip(".")
        return f"{explanation}; its claims cannot be relied on."
    if report.state == "invalid":
        return (
            "The C2PA manifest fails validation ("
            + ", ".join(report.failure_codes or report.ingredient_problem_codes or ["invalid"])
            + "): its claims cannot be relied on."
        )
    who = report.signer.common_name if report.signer else "an unknown signer"
    if report.signer is not None and report.signer.development:
        who += "; a development identity, for testing only"
    if report.credential_expired:
        return (
            f"Intact C2PA manifest, but its signer's certificate ({who}) has expired and no "
            "time-stamp proves it was signed while valid: not tampered with, not vouched for."
        )
    trust = "a trusted" if report.state == "trusted" else "an untrusted"
    return f"Intact C2PA manifest signed by {trust} signer ({who})."


def decide(
    report: ProvenanceReport,
    ai_origin: dict[str, Any] | None,
    recovered: Sequence[ManifestMatch] = (),
) -> Decision:
    """The verdict policy (module docstring): the first rule that applies decides, and the
    reasons say what it rested on, in order: provenance, recovery, warnings, the decider."""
    reasons = [_provenance_sentence(report)]
    closest = closest_matches(recovered)
    if closest:
        reasons.append(_recovery_reason(closest, report))
    reasons.extend(entry.explanation or entry.code for entry in report.warnings)

    declared = declared_by(report)
    if declared in ("c2pa_manifest", "c2pa_ingredient"):
        reasons.append(report.ai_declaration.sentence())  # type: ignore[union-attr]
        return Decision("declared_ai", reasons, declared)
    declaring = [m for m in closest if m.manifest.ai_declared]
    if declaring and len(declaring) == len(closest):
        how = "watermark" if closest[0].signal == "watermark" else "fingerprint"
        reasons.append(
            f"Declared AI (recovered by {how}): the declaration is a recorded manifest's, "
            "found by matching the pixels, not a signature over this file."
        )
        return Decision(
            "declared_ai_recovered",
            reasons,
            "recovered_watermark" if how == "watermark" else "recovered_fingerprint",
        )
    if declared == "iptc_metadata":
        term = report.iptc.digital_source_type.rstrip("/").rsplit("/", 1)[-1]  # type: ignore[union-attr]
        reasons.append(
            f"Generative AI declared in unsigned IPTC metadata ({term}): the maker's own "
            "label, which nothing binds to these pixels."
        )
        return Decision("declared_ai", reasons, declared)
    if declaring:
        score = (
            f" (score {ai_origin['p_ai']:.3f}, threshold {ai_origin['threshold']:.3f})"
            if ai_origin is not None
            else ""
        )
        reasons.append(
            f"Inconclusive: the equally close recorded manifests disagree, and the "
            f"detector's score{score} does not settle what they declare."
        )
        return Decision("inconclusive", reasons, None)
    verdict, sentence = _detector_verdict(ai_origin)
    reasons.append(sentence)
    return Decision(verdict, reasons, None)


def _detector_verdict(ai_origin: dict[str, Any] | None) -> tuple[Verdict, str]:
    if ai_origin is None:
        return "inconclusive", "No detector score is available (no detector, or image too small)."
    p_ai, threshold = ai_origin["p_ai"], ai_origin["threshold"]
    if ai_origin["label"] == "inconclusive":
        return "inconclusive", f"The detector abstains (score {p_ai:.3f}): {ai_origin['reason']}."
    if ai_origin["label"] == "ai":
        return "likely_ai", f"Detector score {p_ai:.3f} is above its threshold {threshold:.3f}."
    return "likely_real", f"Detector score {p_ai:.3f} is not above its threshold {threshold:.3f}."
