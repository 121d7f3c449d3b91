"""Verifying C2PA manifests: one report per asset, active manifest and ingredients alike.

Facts of c2pa-rs 0.91 (through c2pa-python 0.38) that shape this module:

* trust is configured only through ``c2pa.Context`` (``trust.user_anchors``); there are
  no built-in anchors, so without ``--trust`` nothing is ever ``trusted``;
* an untrusted signer reads as state ``Valid`` with ``signingCredential.untrusted``
  among the active manifest's failures;
* problems of ingredients do not appear among the active manifest's failures: they live
  in ``validation_results.ingredientDeltas`` and in each ingredient's recorded
  ``validation_status`` (claim v1) or ``validation_results`` (claim v2). A verifier that
  reads only the active manifest calls a file with a forged ingredient fine.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from provenance.errors import InputError, UnsupportedFormatError
from provenance.keys import DEV_ORGANIZATION
from provenance.media import MediaFile, check_media, read_media
from provenance.rubrics import asset_signals
from provenance.signing import GENERATOR_ASSERTION, declares_ai
from provenance.softbinding import read_soft_bindings
from provenance.timestamps import carries_timestamp, check_tsa, signature_box, timestamp_token
from provenance.trainingmining import TrainingMiningStatement, read_training_mining
from provenance.xmp import iptc_digital_source_type

if TYPE_CHECKING:
    import c2pa

    from provenance.trustlist import TrustAnchor, TrustListInfo

State = Literal["trusted", "valid", "invalid", "absent"]
# The C2PA status code for an error no other code names; here: a manifest c2pa cannot parse.
UNREADABLE_MANIFEST = "general.error"
# The C2PA status code for a time-stamp token that cannot be read. c2pa-rs does not fail a
# manifest for it: it drops the signing time, so here it is a warning beside the state.
MALFORMED_TIMESTAMP = "timeStamp.malformed"
EXPIRED_CREDENTIAL = "signingCredential.expired"
UNTRUSTED_CREDENTIAL = "signingCredential.untrusted"
# Relationships through which an ingredient's content flows into this asset: a declaration
# of AI made there (the inception action) holds for this file too. An ``inputTo``
# ingredient (a prompt, a reference) did not become these pixels.
_DERIVED_FROM = ("parentOf", "componentOf")

_SUCCESS_SUFFIXES = (
    ".validated",
    ".trusted",
    ".match",
    ".insideValidity",
    ".notRevoked",
    ".accessible",
)
_INFORMATIONAL_CODES = frozenset(
    {
        "algorithm.deprecated",
        "signingCredential.ocsp.skipped",
        "signingCredential.ocsp.inaccessible",
        "signingCredential.ocsp.unknown",
        "timeStamp.untrusted",
        "timeOfSigning.insideValidity",
        "timeOfSigning.outsideValidity",
        "ingredient.unknownProvenance",
        "manifest.unknownProvenance",
    }
)


def is_failure_code(code: str) -> bool:
    """C2PA status codes are success, informational or failure; only failures are problems."""
    return not code.endswith(_SUCCESS_SUFFIXES) and code not in _INFORMATIONAL_CODES


@dataclass
class StatusEntry:
    code: str
    explanation: str | None = None
    url: str | None = None


@dataclass
class SignerInfo:
    issuer: str | None
    common_name: str | None
    algorithm: str | None
    signing_time: str | None
    serial_number: str | None
    development: bool = False
    """Issued by a provaudit development identity (``provaudit keys``, the dev server's
    own): self-made and for testing, whatever a trust setting makes of it."""


@dataclass
class IngredientProblem:
    ingredient: str
    code: str
    explanation: str | None
    source: Literal["delta", "recorded"]


@dataclass
class ManifestNode:
    """One node of the ingredient tree: an asset and the manifest that describes it."""

    title: str | None
    format: str | None
    relationship: str | None
    manifest: str | None
    signer: SignerInfo | None
    digital_source_types: list[str]
    ai_declared: bool
    problems: list[str]
    thumbnail: str | None
    ingredients: list[ManifestNode] = field(default_factory=list)


@dataclass
class AiDeclaration:
    """Where the provenance chain declares generative AI: the manifest whose action (or
    IPTC assertion) names an AI digital source type, usually the inception ``c2pa.created``
    of a parent that a later edit or conversion kept as its ``parentOf`` ingredient."""

    manifest: str
    where: Literal["active", "ingredient"]
    relationship: str | None
    """The ingredient's relationship (``parentOf`` / ``componentOf``) for ``ingredient``."""
    title: str | None
    digital_source_type: str
    software_agent: str | None
    signer: str | None

    def sentence(self) -> str:
        """One line for a reader: what declares AI, where, and with which tool."""
        term = self.digital_source_type.rstrip("/").rsplit("/", 1)[-1]
        agent = f", software agent {self.software_agent}" if self.software_agent else ""
        if self.where == "active":
            return f"The manifest declares generative AI ({term}{agent})."
        signer = f", signed by {self.signer}" if self.signer else ""
        return (
            f"An ingredient's manifest ({self.relationship} {self.title or self.manifest!r}"
            f"{signer}) declares generative AI ({term}{agent}), and this file derives from it."
        )


@dataclass
class IptcSignal:
    """The XMP ``DigitalSourceType``: weaker than C2PA, nothing binds it to the pixels."""

    digital_source_type: str
    ai_declared: bool


@dataclass
class ProvenanceReport:
    """What ``provaudit verify --json`` prints for one file (documented in docs/provenance.md)."""

    path: str
    state: State
    format: str | None = None
    active_manifest: str | None = None
    manifests: int = 0
    title: str | None = None
    claim_generator: str | None = None
    signer: SignerInfo | None = None
    failures: list[StatusEntry] = field(default_factory=list)
    warnings: list[StatusEntry] = field(default_factory=list)
    """Problems that do not change the state (c2pa does not fail them) but lose a claim."""
    ingredient_problems: list[IngredientProblem] = field(default_factory=list)
    ai_declared: bool = False
    """An AI declaration in the active manifest or anywhere up its parentOf / componentOf
    chain (``ai_declaration`` says where)."""
    ai_declaration: AiDeclaration | None = None
    credential_expired: bool = False
    """The manifest is intact but its signer's certificate has expired and no time-stamp
    proves it was signed while valid: state ``valid``, not ``invalid`` (``c2pa_state``
    keeps c2pa's own word)."""
    c2pa_state: str | None = None
    """c2pa's validation state (``trusted`` / ``valid`` / ``invalid``), where it gave one."""
    digital_source_types: list[str] = field(default_factory=list)
    generator: dict[str, Any] | None = None
    soft_bindings: list[dict[str, str]] = field(default_factory=list)
    training_mining: TrainingMiningStatement | None = None
    """The active manifest's training-and-data-mining assertion (``cawg.training-mining``
    or C2PA 1.x's ``c2pa.training-mining``): which AI uses its signer allows."""
    iptc: IptcSignal | None = None
    ingredients: list[ManifestNode] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    """The active manifest's actions (its edit history), in order."""
    asset_signals: list[dict[str, str]] = field(default_factory=list)
    """The C2PA Asset Rubrics' local signals that hold, per manifest, active first
    (``provenance.rubrics``): ``{id, text, manifest}``."""
    trust_list: dict[str, Any] | None = None
    """The trust list the signer was checked against: name, issue date, SHA-256."""
    timestamp: dict[str, Any] | None = None
    """The signature's RFC 3161 time-stamp, where it has one that c2pa validated: its
    authority (``tsa``) and whether the C2PA TSA trust list vouches for it."""
    certificates: list[dict[str, Any]] | None = None
    detailed: dict[str, Any] | None = None
    crjson: dict[str, Any] | None = None
    thumbnails: dict[str, str] | None = None
    thumbnail: str | None = None
    """The identifier of the active manifest's claim thumbnail (a key of ``thumbnails``
    when they are inlined), or None when the manifest carries none."""

    @property
    def failure_codes(self) -> list[str]:
        return sorted({entry.code for entry in self.failures})

    @property
    def ingredient_problem_codes(self) -> list[str]:
        return sorted({problem.code for problem in self.ingredient_problems})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failure_codes"] = self.failure_codes
        data["ingredient_problem_codes"] = self.ingredient_problem_codes
        if self.training_mining is not None:
            data["training_mining"] = self.training_mining.to_dict()
        for optional in ("certificates", "detailed", "crjson", "thumbnails"):
            if data[optional] is None:
                del data[optional]
        return data


class ProvenanceVerifier:
    """Reads and validates manifests against a fixed set of trust anchors.

    Build one and reuse it: the c2pa Context (trust settings) is built once.
    Remote manifest fetching and OCSP are off: verification never touches the network.
    """

    def __init__(
        self,
        trust_anchors_pem: bytes | str | None = None,
        trust_list: TrustListInfo | None = None,
    ) -> None:
        """``trust_list`` names the list ``trust_anchors_pem`` includes, for the reports."""
        if isinstance(trust_anchors_pem, bytes):
            trust_anchors_pem = trust_anchors_pem.decode("ascii", "replace")
        self.trust_anchors_pem = trust_anchors_pem or None
        self.trust_list = trust_list
        self.tsa_anchors: list[TrustAnchor] = []
        self.tsa_list: str | None = None

    @classmethod
    def from_files(cls, paths: list[Path]) -> ProvenanceVerifier:
        return cls(read_trust_anchors(paths))

    @classmethod
    def with_trust_list(
        cls, trust_list: str = "c2pa", paths: list[Path] | None = None
    ) -> ProvenanceVerifier:
        """Anchors as ``verify`` takes them: the named list (``c2pa`` or ``none``), the
        user's own (``provaudit trust add``), then the PEM files of ``paths``."""
        from provenance.trustlist import all_anchors, bundled_trust_list, trust_list_info

        if trust_list not in ("c2pa", "none"):
            raise InputError(f"Unknown trust list {trust_list!r}; use c2pa or none.")
        listed = "".join(anchor.pem for anchor in all_anchors(trust_list))  # type: ignore[arg-type]
        given = read_trust_anchors(paths or []) or ""
        verifier = cls(listed + given, trust_list_info(trust_list))  # type: ignore[arg-type]
        if trust_list == "c2pa":
            tsa = bundled_trust_list("c2pa-tsa")
            verifier.tsa_anchors = list(tsa.anchors)
            verifier.tsa_list = f"{tsa.info.name} ({tsa.info.issued[:10]})"
        return verifier

    @cached_property
    def context(self) -> c2pa.Context:
        import c2pa

        settings: dict[str, Any] = {
            "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
        }
        if self.trust_anchors_pem:
            settings["trust"] = {"user_anchors": self.trust_anchors_pem}
        return c2pa.Context.from_dict(settings)

    def verify_file(
        self,
        path: Path | str,
        *,
        detailed: bool = False,
        certificates: bool = False,
        thumbnails_dir: Path | None = None,
        crjson: bool = False,
    ) -> ProvenanceReport:
        media = read_media(path)
        return self.verify(
            media,
            detailed=detailed,
            certificates=certificates,
            thumbnails_dir=thumbnails_dir,
            crjson=crjson,
        )

    def verify_bytes(self, data: bytes, name: str = "upload", **options: Any) -> ProvenanceReport:
        return self.verify(check_media(data, name), **options)

    def verify(
        self,
        media: MediaFile,
        *,
        detailed: bool = False,
        certificates: bool = False,
        thumbnails_dir: Path | None = None,
        inline_thumbnails: bool = False,
        crjson: bool = False,
    ) -> ProvenanceReport:
        """Validate one asset; ``inline_thumbnails`` adds them as data URIs (for web pages)."""
        report = self._read(
            media,
            detailed=detailed,
            certificates=certificates,
            thumbnails_dir=thumbnails_dir,
            inline_thumbnails=inline_thumbnails,
            crjson=crjson,
        )
        report.trust_list = self.trust_list.to_dict() if self.trust_list else None
        if report.signer is not None and report.signer.signing_time:
            token = timestamp_token(signature_box(media.data, report.active_manifest))
            if token is not None:
                check = check_tsa(token, self.tsa_anchors, self.tsa_list)
                report.timestamp = check.to_dict()
        return report

    def _read(
        self,
        media: MediaFile,
        *,
        detailed: bool,
        certificates: bool,
        thumbnails_dir: Path | None,
        inline_thumbnails: bool,
        crjson: bool,
    ) -> ProvenanceReport:
        import c2pa

        try:
            reader = c2pa.Reader.try_create(
                media.mime_type, io.BytesIO(media.data), None, self.context
            )
        except c2pa.C2paError.NotSupported:
            raise UnsupportedFormatError(
                f"{media.name}: C2PA does not support {media.mime_type} files."
            ) from None
        except c2pa.C2paError as exc:
            if not _carries_manifest(media.data):
                raise InputError(f"{media.name}: the C2PA data cannot be read ({exc}).") from None
            return self._unreadable(media, exc)
        if reader is None:
            return self._absent(media)
        with reader:
            store = json.loads(reader.json())
            report = _report_from_store(media, store, reader.get_validation_state())
            store_crjson = json.loads(reader.crjson())
            report.asset_signals = [signal.to_dict() for signal in asset_signals(store_crjson)]
            if crjson:
                report.crjson = store_crjson
            if detailed:
                report.detailed = json.loads(reader.detailed_json())
            if certificates:
                report.certificates = _certificates(store)
            if thumbnails_dir is not None:
                _export_thumbnails(reader, report, thumbnails_dir, Path(media.name).stem)
            if inline_thumbnails:
                report.thumbnails = _inline_thumbnails(reader, store, report)
        return report

    def _unreadable(self, media: MediaFile, exc: Exception) -> ProvenanceReport:
        """A manifest is there but cannot be parsed: that is a broken manifest (``invalid``),
        never a reason to skip the file, so an audit still scores and matches it."""
        source_type = iptc_digital_source_type(media.data)
        return ProvenanceReport(
            path=media.name,
            state="invalid",
            format=media.format,
            failures=[StatusEntry(UNREADABLE_MANIFEST, f"The C2PA manifest cannot be read: {exc}")],
            iptc=(IptcSignal(source_type, declares_ai(source_type)) if source_type else None),
        )

    def _absent(self, media: MediaFile) -> ProvenanceReport:
        source_type = iptc_digital_source_type(media.data)
        return ProvenanceReport(
            path=media.name,
            state="absent",
            format=media.format,
            iptc=(IptcSignal(source_type, declares_ai(source_type)) if source_type else None),
        )


def read_trust_anchors(paths: list[Path], also: bytes | str | None = None) -> str | None:
    """The PEM certificates of ``paths`` (plus ``also``) as one bundle; None if there are none."""
    chunks = [also.decode() if isinstance(also, bytes) else also] if also else []
    for path in paths:
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"Trust anchors {path} cannot be read ({exc}).") from None
        if "-----BEGIN CERTIFICATE-----" not in text:
            raise InputError(f"Trust anchors {path} hold no PEM certificate.")
        chunks.append(text)
    return "".join(chunk.strip() + "\n" for chunk in chunks) or None


def _carries_manifest(data: bytes) -> bool:
    """Whether the file holds C2PA data at all: a JUMBF box or a C2PA label."""
    return b"jumb" in data or b"c2pa" in data


def _state(validation_state: str | None) -> State:
    normalised = (validation_state or "").lower()
    if normalised in ("trusted", "valid", "invalid"):
        return normalised  # type: ignore[return-value]
    return "invalid"


def _status_entries(entries: list[dict[str, Any]] | None) -> list[StatusEntry]:
    return [
        StatusEntry(code=e.get("code", "?"), explanation=e.get("explanation"), url=e.get("url"))
        for e in entries or []
    ]


def _signer(manifest: dict[str, Any]) -> SignerInfo | None:
    info = manifest.get("signature_info")
    if not info:
        return None
    alg = info.get("alg")
    return SignerInfo(
        issuer=info.get("issuer"),
        common_name=info.get("common_name"),
        algorithm=alg.upper() if isinstance(alg, str) else alg,
        signing_time=info.get("time"),
        serial_number=info.get("cert_serial_number"),
        development=info.get("issuer") == DEV_ORGANIZATION,
    )


def _declared_source_types(manifest: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    """Each digital source type the manifest names, in order, with its action's software
    agent: from its actions, then from an IPTC assertion (no agent)."""
    for assertion in manifest.get("assertions", []):
        label = assertion.get("label", "")
        data = assertion.get("data") or {}
        if label.startswith("c2pa.actions"):
            for action in data.get("actions", []):
                source_type = action.get("digitalSourceType")
                if isinstance(source_type, str) and source_type:
                    yield source_type, _agent_name(action.get("softwareAgent"))
        elif label.startswith("stds.iptc"):
            source_type = data.get("Iptc4xmpExt:DigitalSourceType")
            if isinstance(source_type, str) and source_type:
                yield source_type, None


def _source_types(manifest: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(source_type for source_type, _ in _declared_source_types(manifest)))


def _ai_action(manifest: dict[str, Any]) -> tuple[str, str | None] | None:
    """The first AI digital source type a manifest declares, with its software agent."""
    return next(
        (found for found in _declared_source_types(manifest) if declares_ai(found[0])), None
    )


def _agent_name(agent: Any) -> str | None:
    """``softwareAgent`` is a string (claim v1) or a generator-info map (v2)."""
    if isinstance(agent, dict):
        parts = (agent.get("name"), agent.get("version"))
        return " ".join(str(part) for part in parts if part) or None
    return str(agent) if agent else None


def _ai_declaration(active_label: str | None, manifests: dict[str, Any]) -> AiDeclaration | None:
    """The nearest AI declaration: the active manifest's, else the first found walking its
    parentOf / componentOf ingredients' manifests breadth first (each manifest once)."""
    if not active_label or active_label not in manifests:
        return None
    queue: list[tuple[str, str | None, str | None]] = [(active_label, None, None)]
    seen = {active_label}
    while queue:
        label, relationship, title = queue.pop(0)
        manifest = manifests[label]
        found = _ai_action(manifest)
        if found is not None:
            signer = _signer(manifest)
            return AiDeclaration(
                manifest=label,
                where="active" if label == active_label else "ingredient",
                relationship=relationship,
                title=title,
                digital_source_type=found[0],
                software_agent=found[1],
                signer=signer.common_name if signer else None,
            )
        for ingredient in manifest.get("ingredients", []):
            child = ingredient.get("active_manifest")
            if (
                ingredient.get("relationship") in _DERIVED_FROM
                and child in manifests
                and child not in seen
            ):
                seen.add(child)
                queue.append((child, ingredient.get("relationship"), ingredient.get("title")))
    return None


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every action of the manifest's actions assertions, in order, with the fields a
    reader of an edit history wants (the software agent as a name)."""
    found = []
    for assertion in manifest.get("assertions", []):
        if not assertion.get("label", "").startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions", []):
            entry = {"action": action.get("action")}
            for key in ("digitalSourceType", "when", "description", "reason"):
                if action.get(key):
                    entry[key] = action[key]
            agent = _agent_name(action.get("softwareAgent"))
            if agent:
                entry["softwareAgent"] = agent
            found.append(entry)
    return found


def _generator(manifest: dict[str, Any]) -> dict[str, Any] | None:
    for assertion in manifest.get("assertions", []):
        if assertion.get("label") == GENERATOR_ASSERTION:
            return assertion.get("data")
    return None


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    if manifest.get("claim_generator"):
        return manifest["claim_generator"]
    infos = manifest.get("claim_generator_info") or []
    if infos:
        first = infos[0]
        return " ".join(str(part) for part in (first.get("name"), first.get("version")) if part)
    return None


def _recorded_failures(ingredient: dict[str, Any]) -> list[dict[str, Any]]:
    """Failures an ingredient carried when it was added (claim v1 status or v2 results)."""
    recorded = list(ingredient.get("validation_status") or [])
    results = ingredient.get("validation_results") or {}
    recorded += (results.get("activeManifest") or {}).get("failure") or []
    for delta in results.get("ingredientDeltas") or []:
        recorded += (delta.get("validationDeltas") or {}).get("failure") or []
    return [entry for entry in recorded if is_failure_code(entry.get("code", ""))]


def _node(
    ingredient: dict[str, Any],
    manifests: dict[str, Any],
    problems: list[IngredientProblem],
    seen: frozenset[str],
) -> ManifestNode:
    label = ingredient.get("active_manifest")
    manifest = manifests.get(label) if label else None
    title = ingredient.get("title") or label or "ingredient"
    recorded = _recorded_failures(ingredient)
    for entry in recorded:
        problems.append(
            IngredientProblem(title, entry.get("code", "?"), entry.get("explanation"), "recorded")
        )
    source_types = _source_types(manifest) if manifest else []
    children: list[ManifestNode] = []
    if manifest and label not in seen:
        children = [
            _node(child, manifests, problems, seen | {label})
            for child in manifest.get("ingredients", [])
        ]
    thumbnail = (ingredient.get("thumbnail") or {}).get("identifier")
    return ManifestNode(
        title=ingredient.get("title"),
        format=ingredient.get("format"),
        relationship=ingredient.get("relationship"),
        manifest=label,
        signer=_signer(manifest) if manifest else None,
        digital_source_types=source_types,
        ai_declared=any(declares_ai(s) for s in source_types),
        problems=sorted({entry.get("code", "?") for entry in recorded}),
        thumbnail=thumbnail,
        ingredients=children,
    )


def _report_from_store(
    media: MediaFile, store: dict[str, Any], validation_state: str | None
) -> ProvenanceReport:
    manifests: dict[str, Any] = store.get("manifests") or {}
    active_label = store.get("active_manifest")
    active = manifests.get(active_label, {}) if active_label else {}
    results = store.get("validation_results") or {}
    failures = _status_entries((results.get("activeManifest") or {}).get("failure"))
    # Without validation_results (very old stores), fall back to the flat status list.
    if not results and store.get("validation_status"):
        failures = [
            entry
            for entry in _status_entries(store["validation_status"])
            if is_failure_code(entry.code)
        ]

    problems: list[IngredientProblem] = []
    for delta in results.get("ingredientDeltas") or []:
        uri = delta.get("ingredientAssertionURI", "ingredient")
        for entry in (delta.get("validationDeltas") or {}).get("failure") or []:
            problems.append(
                IngredientProblem(uri, entry.get("code", "?"), entry.get("explanation"), "delta")
            )
    tree = [
        _node(ingredient, manifests, problems, frozenset({active_label or ""}))
        for ingredient in active.get("ingredients", [])
    ]
    source_types = _source_types(active)
    iptc_type = iptc_digital_source_type(media.data)
    signer = _signer(active)
    declaration = _ai_declaration(active_label, manifests)
    state = _state(validation_state)
    failure_codes = {entry.code for entry in failures}
    verified = {
        entry.get("code") for entry in (results.get("activeManifest") or {}).get("success") or []
    }
    # Expiry alone, over a claim signature and content hash c2pa checked: not tampering.
    credential_expired = (
        state == "invalid"
        and EXPIRED_CREDENTIAL in failure_codes
        and failure_codes <= {EXPIRED_CREDENTIAL, UNTRUSTED_CREDENTIAL}
        and "claimSignature.validated" in verified
    )
    warnings = []
    # Only a signature without a signing time is searched for a token c2pa dropped.
    if (
        signer
        and not signer.signing_time
        and carries_timestamp(signature_box(media.data, active_label))
    ):
        warnings.append(
            StatusEntry(
                MALFORMED_TIMESTAMP,
                "The signature carries an RFC 3161 time-stamp that cannot be validated, so "
                "the signing time is unknown (c2pa does not fail the manifest for it).",
            )
        )
    return ProvenanceReport(
        path=media.name,
        state="valid" if credential_expired else state,
        format=media.format,
        active_manifest=active_label,
        manifests=len(manifests),
        title=active.get("title"),
        claim_generator=_claim_generator(active),
        signer=signer,
        failures=failures,
        warnings=warnings,
        ingredient_problems=problems,
        ai_declared=declaration is not None,
        ai_declaration=declaration,
        credential_expired=credential_expired,
        c2pa_state=state,
        digital_source_types=source_types,
        generator=_generator(active),
        actions=_actions(active),
        soft_bindings=read_soft_bindings(active),
        training_mining=read_training_mining(active),
        iptc=IptcSignal(iptc_type, declares_ai(iptc_type)) if iptc_type else None,
        ingredients=tree,
        thumbnail=(active.get("thumbnail") or {}).get("identifier"),
    )


def _certificates(store: dict[str, Any]) -> list[dict[str, Any]]:
    """The signing identity of every manifest in the store, active first."""
    manifests: dict[str, Any] = store.get("manifests") or {}
    active = store.get("active_manifest")
    order = [active, *(label for label in manifests if label != active)] if active else []
    return [
        {"manifest": label, **(manifests[label].get("signature_info") or {})}
        for label in order
        if label in manifests
    ]


def _thumbnail_uris(store: dict[str, Any], report: ProvenanceReport) -> list[tuple[str, str]]:
    """``(name, uri)`` of the active manifest's thumbnail and every ingredient's, in tree order."""
    active = (store.get("manifests") or {}).get(report.active_manifest or "", {})
    wanted: list[tuple[str, str]] = []
    if active.get("thumbnail"):
        wanted.append(("claim", active["thumbnail"]["identifier"]))

    def walk(nodes: list[ManifestNode], prefix: str) -> None:
        for index, node in enumerate(nodes):
            if node.thumbnail:
                wanted.append((f"{prefix}{index}", node.thumbnail))
            walk(node.ingredients, f"{prefix}{index}-")

    walk(report.ingredients, "ingredient-")
    return wanted


def _inline_thumbnails(
    reader: c2pa.Reader, store: dict[str, Any], report: ProvenanceReport, limit: int = 16
) -> dict[str, str]:
    import base64

    import c2pa

    inlined: dict[str, str] = {}
    for _name, uri in _thumbnail_uris(store, report)[:limit]:
        buffer = io.BytesIO()
        try:
            reader.resource_to_stream(uri, buffer)
        except c2pa.C2paError:
            continue
        kind = "png" if buffer.getvalue()[:4] == b"\x89PNG" else "jpeg"
        inlined[uri] = f"data:image/{kind};base64," + base64.b64encode(buffer.getvalue()).decode()
    return inlined


def _export_thumbnails(
    reader: c2pa.Reader, report: ProvenanceReport, directory: Path, stem: str
) -> None:
    import c2pa

    directory.mkdir(parents=True, exist_ok=True)
    for name, uri in _thumbnail_uris(json.loads(reader.json()), report):
        target = directory / f"{stem}.{name}.jpg"
        try:
            with target.open("wb") as handle:
                reader.resource_to_stream(uri, handle)
        except c2pa.C2paError:
            target.unlink(missing_ok=True)


def claim_thumbnail(manifest_store: bytes) -> tuple[str, bytes] | None:
    """``(media type, bytes)`` of the active manifest's claim thumbnail in a bare manifest
    store (``application/c2pa``, as the registry keeps what it signed), or None."""
    import c2pa

    try:
        reader = c2pa.Reader("application/c2pa", io.BytesIO(manifest_store))
        store = json.loads(reader.json())
        active = (store.get("manifests") or {}).get(store.get("active_manifest") or "", {})
        identifier = (active.get("thumbnail") or {}).get("identifier")
        if not identifier:
            return None
        buffer = io.BytesIO()
        reader.resource_to_stream(identifier, buffer)
    except c2pa.C2paError:
        return None
    data = buffer.getvalue()
    return ("image/png" if data[:4] == b"\x89PNG" else "image/jpeg"), data
