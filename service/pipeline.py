"""The audit itself: every signal computed separately, then combined into a verdict.

A missing manifest is "no provenance signal", never evidence of authenticity. Verdicts:

* ``declared_ai``: an intact C2PA manifest (trusted or valid) declares generative AI, in
  its own actions or in those of a ``parentOf`` / ``componentOf`` ingredient's manifest;
  or, failing that, the file's unsigned IPTC metadata does (``declaration`` tells which);
* ``likely_ai`` / ``likely_real``: no declaration, the detector's score is above / below
  its calibrated threshold;
* ``inconclusive``: no declaration and no usable detector score, or a detector that
  abstains (its verdict flips under a small re-encode, or rests on a few tiles).

``matches`` comes from the registry (``provenance.store``): for a file without an
intact manifest, the manifests provaudit signed whose image it matches (soft-binding
recovery: the one its invisible watermark names first, then fingerprint matches), and,
for every file, the hash-bank content it matches. A recovered manifest is reported as a
reason, but it does not change the verdict: a perceptual match (or a watermark, which
anyone could write) is evidence about the pixels, not a signature over this file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from provenance.errors import InputError
from provenance.hashquery import HashQuery
from provenance.media import check_media, decode_image
from provenance.recovery import ManifestMatch, read_watermark
from provenance.store import FingerprintStore
from provenance.verify import UNREADABLE_MANIFEST, ProvenanceReport, ProvenanceVerifier

Verdict = Literal["declared_ai", "likely_ai", "likely_real", "inconclusive"]
DeclaredBy = Literal["c2pa_manifest", "c2pa_ingredient", "iptc_metadata"]
VERDICTS: tuple[Verdict, ...] = ("declared_ai", "likely_ai", "likely_real", "inconclusive")


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
    inception of a file later edited or converted), or the file's unsigned IPTC metadata."""

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
        verdict, reasons = combine(report, ai_origin)
        matches, match_reasons = self.matches(query, report, watermark=watermark)
        # Right after the provenance sentence, before the detector's.
        reasons[1:1] = match_reasons
        return AuditResult(
            sha256=hashlib.sha256(data).hexdigest(),
            filename=filename,
            ai_origin=ai_origin,
            provenance=provenance_summary(report),
            fingerprints=query.fingerprints(),
            matches=matches,
            verdict=verdict,
            reasons=reasons,
            declared_by=declared_by(report),
        )

    def matches(
        self, query: HashQuery, report: ProvenanceReport, *, watermark: int | None = None
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """Recovered manifests (no intact manifest only: the one the image's ``watermark``
        payload names first, then fingerprint matches) and bank matches, with reasons."""
        if self.fingerprints is None:
            return [], []
        found: list[dict[str, Any]] = []
        reasons: list[str] = []
        if report.state in ("absent", "invalid"):
            recovered: list[ManifestMatch] = self.fingerprints.manifests.recover_query(
                query, watermark=watermark, max_results=5
            )
            for match in recovered:
                found.append({"kind": "manifest", **match.to_dict()})
            if recovered:
                reasons.append(_recovery_reason(recovered[0], report))
        for bank, hits in self.fingerprints.banks.lookup([query])[0].items():
            for hit in hits:
                found.append({"kind": "bank", "bank": bank, **hit})
            best = hits[0]
            reasons.append(
                f"Matches content {best['bank_content_id']} of hash bank {bank} at distance "
                f"{best['distance']} ({best['signal']})."
            )
        return found, reasons


def _recovery_reason(match: ManifestMatch, report: ProvenanceReport) -> str:
    sentence = match.reason()
    if report.state == "invalid":
        sentence = sentence.replace(
            "No manifest in the file", "The file's own manifest fails validation", 1
        )
    if match.manifest.ai_declared:
        sentence += " That manifest declares generative AI."
    return sentence


def declared_by(report: ProvenanceReport) -> DeclaredBy | None:
    """Which declaration of generative AI the verdict rests on, signed ones first."""
    if report.state in ("trusted", "valid") and report.ai_declaration is not None:
        return "c2pa_manifest" if report.ai_declaration.where == "active" else "c2pa_ingredient"
    if report.iptc is not None and report.iptc.ai_declared:
        return "iptc_metadata"
    return None


def combine(
    report: ProvenanceReport, ai_origin: dict[str, Any] | None
) -> tuple[Verdict, list[str]]:
    reasons: list[str] = []
    if report.state == "absent":
        reasons.append(
            "No C2PA manifest: no provenance signal (this is not evidence of authenticity)."
        )
    elif report.state == "invalid" and report.failure_codes == [UNREADABLE_MANIFEST]:
        explanation = (report.failures[0].explanation or "").rstrip(".")
        reasons.append(f"{explanation}; its claims cannot be relied on.")
    elif report.state == "invalid":
        reasons.append(
            "The C2PA manifest fails validation ("
            + ", ".join(report.failure_codes or report.ingredient_problem_codes or ["invalid"])
            + "): its claims cannot be relied on."
        )
    elif report.credential_expired:
        who = report.signer.common_name if report.signer else "an unknown signer"
        reasons.append(
            f"Intact C2PA manifest, but its signer's certificate ({who}) has expired and no "
            "time-stamp proves it was signed while valid: not tampered with, not vouched for."
        )
    else:
        who = report.signer.common_name if report.signer else "an unknown signer"
        trust = "a trusted" if report.state == "trusted" else "an untrusted"
        reasons.append(f"Intact C2PA manifest signed by {trust} signer ({who}).")
    reasons.extend(entry.explanation or entry.code for entry in report.warnings)

    declared = declared_by(report)
    if declared in ("c2pa_manifest", "c2pa_ingredient"):
        reasons.append(report.ai_declaration.sentence())  # type: ignore[union-attr]
        return "declared_ai", reasons
    if declared == "iptc_metadata":
        term = report.iptc.digital_source_type.rstrip("/").rsplit("/", 1)[-1]
        reasons.append(
            f"Generative AI declared in unsigned IPTC metadata ({term}): the maker's own "
            "label, which nothing binds to these pixels."
        )
        return "declared_ai", reasons
    if ai_origin is None:
        reasons.append("No detector score is available (no detector, or image too small).")
        return "inconclusive", reasons
    p_ai, threshold = ai_origin["p_ai"], ai_origin["threshold"]
    if ai_origin["label"] == "inconclusive":
        reasons.append(f"The detector abstains (score {p_ai:.3f}): {ai_origin['reason']}.")
        return "inconclusive", reasons
    if ai_origin["label"] == "ai":
        reasons.append(f"Detector score {p_ai:.3f} is above its threshold {threshold:.3f}.")
        return "likely_ai", reasons
    reasons.append(f"Detector score {p_ai:.3f} is not above its threshold {threshold:.3f}.")
    return "likely_real", reasons
