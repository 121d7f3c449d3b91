"""Signing images with C2PA manifests (Content Credentials).

The in-memory API (:func:`sign_bytes`) is what the service and the generators use; the
CLI wraps it for files. The c2pa ``Signer`` and ``Context`` are built once per identity
and thumbnail policy and reused, so a signature costs what c2pa-rs costs.
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from provenance import __version__
from provenance.errors import (
    InputError,
    ManifestDefinitionError,
    ProvauditError,
    SigningError,
)
from provenance.keys import SigningIdentity, check_signing_certificate
from provenance.media import MediaFile, check_media, read_media
from provenance.softbinding import SOFT_BINDING_ASSERTION, WATERMARK_ALG
from provenance.trainingmining import TrainingMining

if TYPE_CHECKING:
    import c2pa

    from provenance.fingerprint import Fingerprints

IPTC_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED_ALGORITHMIC_MEDIA = IPTC_SOURCE_TYPE + "trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = IPTC_SOURCE_TYPE + "compositeWithTrainedAlgorithmicMedia"
GENERATOR_ASSERTION = "org.provaudit.generator"
CLAIM_GENERATOR = {"name": "provaudit", "version": __version__}
WATERMARKED_BOUND = "c2pa.watermarked.bound"
"""The C2PA action for an invisible watermark bound to this manifest (a soft binding)."""
WATERMARK_IDS = 1 << 32

Thumbnails = Literal["off", "small", "default"]
_THUMBNAIL_SETTINGS: dict[str, dict[str, Any]] = {
    "off": {"enabled": False},
    # c2pa-rs otherwise scales to a 1024 px long edge (~120 KB, ~100 ms per image).
    "small": {"enabled": True, "long_edge": 256, "quality": "low"},
    "default": {"enabled": True},
}


# The IPTC terms that declare generative-AI content. Producers write the vocabulary's URI
# with http (the IPTC's own form) or https; both name the same term.
AI_SOURCE_TERMS = frozenset({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"})
_IPTC_SOURCE_TYPE_PREFIXES = (
    IPTC_SOURCE_TYPE,
    "https://" + IPTC_SOURCE_TYPE.removeprefix("http://"),
)


# The IPTC Digital Source Type vocabulary (retired terms included: files still carry them),
# and c2pa-rs's own term for declining to name one.
IPTC_SOURCE_TERMS = frozenset(
    {
        "digitalCapture",
        "computationalCapture",
        "negativeFilm",
        "positiveFilm",
        "print",
        "humanEdits",
        "minorHumanEdits",
        "compositeCapture",
        "algorithmicallyEnhanced",
        "digitalCreation",
        "digitalArt",
        "dataDrivenMedia",
        "trainedAlgorithmicMedia",
        "compositeWithTrainedAlgorithmicMedia",
        "compositeSynthetic",
        "composite",
        "algorithmicMedia",
        "screenCapture",
        "virtualRecording",
    }
)
C2PA_EMPTY_SOURCE_TYPE = "http://c2pa.org/digitalsourcetype/empty"
SOURCE_TYPE_VALUES: tuple[str, ...] = (
    *sorted(IPTC_SOURCE_TERMS, key=str.lower),
    *(prefix + term for prefix in _IPTC_SOURCE_TYPE_PREFIXES for term in sorted(IPTC_SOURCE_TERMS)),
    C2PA_EMPTY_SOURCE_TYPE,
)
"""Every value ``source_type_uri`` accepts: a vocabulary term, its URI (http or https), or
c2pa's empty source type (the API's schema lists them)."""
KNOWN_SAMPLERS = ("ddim", "ddpm")
"""The samplers of the bundled diffusion models, the only ones a generator assertion names."""


def source_type_term(uri: str | None) -> str | None:
    """The IPTC digital source type term of a vocabulary URI (http or https) or of a bare
    vocabulary term (``trainedAlgorithmicMedia``, as some producers write it), else None."""
    if not uri:
        return None
    uri = uri.strip()
    for prefix in _IPTC_SOURCE_TYPE_PREFIXES:
        if uri.startswith(prefix):
            return uri[len(prefix) :].rstrip("/") or None
    return uri if uri in IPTC_SOURCE_TERMS else None


def declares_ai(source_type: str | None) -> bool:
    return source_type_term(source_type) in AI_SOURCE_TERMS


def source_type_uri(term: str) -> str:
    """An IPTC digital source type URI from its term (``digitalCapture``) or full URI;
    anything outside the vocabulary is refused rather than signed."""
    uri = term if term.startswith(("http://", "https://")) else IPTC_SOURCE_TYPE + term
    if uri != C2PA_EMPTY_SOURCE_TYPE and source_type_term(uri) not in IPTC_SOURCE_TERMS:
        raise InputError(
            f"{term!r} is not an IPTC digital source type; known terms (or their URI under "
            f"{IPTC_SOURCE_TYPE}): {', '.join(sorted(IPTC_SOURCE_TERMS, key=str.lower))}."
        )
    return uri


# The file name extensions of each format we sign: the signed file keeps its input's
# format, so an output named for another one would lie about its content.
EXTENSIONS_BY_FORMAT: dict[str, tuple[str, ...]] = {
    "jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "png": (".png",),
    "webp": (".webp",),
    "gif": (".gif",),
    "tiff": (".tif", ".tiff"),
    "heif": (".heic", ".heif", ".hif"),
    "avif": (".avif",),
    "pdf": (".pdf",),
}


def check_output_path(
    destination: Path, fmt: str, *, source_name: str = "the input", force: bool = False
) -> None:
    """Refuse an output whose extension names another format than the input's, and an
    existing output unless ``force`` (as c2patool does); checked before anything is signed."""
    extensions = EXTENSIONS_BY_FORMAT.get(fmt, ())
    suffix = destination.suffix.lower()
    if suffix and suffix not in extensions:
        suggestion = destination.with_suffix(extensions[0]).name if extensions else None
        raise InputError(
            f"The output {destination.name} is named {suffix} but {source_name} is "
            f"{fmt.upper()}: a signed file keeps its input's format"
            + (f" (use {suggestion})." if suggestion else ".")
        )
    if destination.is_dir():
        raise InputError(f"The output {destination} is a directory.")
    if not force and (destination.exists() or destination.is_symlink()):
        raise InputError(f"{destination} already exists; use -f/--force to overwrite it.")


@dataclass(frozen=True)
class GeneratorInfo:
    """What made a synthetic image; written as the ``org.provaudit.generator`` assertion."""

    family: str | None = None
    model: str | None = None
    checkpoint_sha256: str | None = None
    seed: int | None = None
    sampler: str | None = None
    steps: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """A signed claim cannot be taken back: refuse values no generation can have."""
        for name in ("seed", "steps"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 0):
                raise InputError(f"The generator's {name} must be a whole number ≥ 0, not {value}.")
        if self.sampler is not None and self.sampler not in KNOWN_SAMPLERS:
            raise InputError(
                f"Unknown sampler {self.sampler!r}; known: {', '.join(KNOWN_SAMPLERS)}."
            )
        digest = self.checkpoint_sha256
        if digest is not None and (
            len(digest) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digest)
        ):
            raise InputError("The checkpoint digest must be 64 hexadecimal digits (SHA-256).")

    def to_assertion_data(self) -> dict[str, Any]:
        data = {
            key: value
            for key, value in (
                ("family", self.family),
                ("model", self.model),
                ("checkpoint_sha256", self.checkpoint_sha256),
                ("seed", self.seed),
                ("sampler", self.sampler),
                ("steps", self.steps),
            )
            if value is not None
        }
        data.update(self.extra)
        return data


@dataclass(frozen=True)
class Parent:
    """An asset this one was edited from: recorded as a ``parentOf`` ingredient."""

    data: bytes
    title: str = "parent"


@dataclass(frozen=True)
class SignRequest:
    """What to say in the manifest.

    With ``ai_generated`` (or ``source_type``) the manifest records ``c2pa.created`` with
    that digital source type. With a ``parent``, it records ``c2pa.opened`` on the parent
    followed by ``edit_actions``. With neither, the input itself is recorded as the opened
    parent: we do not claim to know how an existing file was made.
    """

    title: str | None = None
    ai_generated: bool = False
    source_type: str | None = None
    generator: GeneratorInfo | None = None
    parent: Parent | None = None
    components: tuple[Parent, ...] = ()
    """Assets placed into this one (a style transfer's content and style images): each a
    ``componentOf`` ingredient with a ``c2pa.placed`` action. With ``ai_generated`` they
    make the digital source type compositeWithTrainedAlgorithmicMedia."""
    edit_actions: tuple[str, ...] = ("c2pa.edited",)
    manifest_definition: dict[str, Any] | None = None
    thumbnails: Thumbnails = "off"
    soft_binding: bool = True
    """Write the ``c2pa.soft-binding`` assertions: the image's PDQ hash
    (``org.provaudit.pdq``) and its ISCC Content-Code Image (``io.iscc.v0``). Images only;
    a ``manifest_definition`` brought by the caller is used as is."""
    watermark: int | None = None
    """The 32-bit payload of the invisible watermark (``provenance.watermark``) the caller
    has already marked into the pixels being signed: declared by a
    ``c2pa.watermarked.bound`` action and an ``org.provaudit.dwtdct`` soft binding, and
    recorded with the manifest. Signing does not embed it; see
    :meth:`ProvenanceSigner.new_watermark` for an ID the registry does not hold yet."""
    training_mining: TrainingMining | None = None
    """Whether the image may be used to train AI or be mined: written as the
    ``cawg.training-mining`` assertion (``provenance.trainingmining``)."""

    def __post_init__(self) -> None:
        if self.source_type is not None:
            source_type_uri(self.source_type)  # refused before anything is signed
        if self.watermark is not None:
            if isinstance(self.watermark, bool) or not isinstance(self.watermark, int):
                raise InputError("A watermark payload is a whole number in [0, 2**32).")
            if not 0 <= self.watermark < WATERMARK_IDS:
                raise InputError(f"A watermark payload is in [0, 2**32), not {self.watermark}.")
            if self.manifest_definition is not None:
                raise InputError(
                    "A watermark is declared by the manifest provaudit writes; a manifest "
                    "definition brought as is cannot have one added."
                )
        if self.training_mining is not None and self.manifest_definition is not None:
            raise InputError(
                "A training-and-mining statement is written into the manifest provaudit "
                "builds; add it to your own manifest definition instead."
            )


@dataclass(frozen=True)
class SignedAsset:
    data: bytes
    format: str
    mime_type: str
    manifest_bytes: bytes
    manifest_definition: dict[str, Any]
    fingerprints: Fingerprints | None = None
    """PDQ and pHash of the signed image, when a recorder needed them."""
    iscc: str | None = None
    """The body of the signed image's ISCC Content-Code Image (hex), when it was computed."""
    watermark: int | None = None
    """The watermark payload the manifest declares (``SignRequest.watermark``)."""


class SignatureRecorder(Protocol):
    """Told about every signature a ``ProvenanceSigner`` makes (``provenance.hashbank``
    records the manifest and the image's fingerprints for soft-binding recovery)."""

    def record_signature(self, signed: SignedAsset, identity: SigningIdentity) -> object: ...


def component_label(index: int) -> str:
    """The ingredient label of ``SignRequest.components[index]``, which its action names."""
    return f"component{index}"


def build_manifest_definition(
    request: SignRequest,
    media: MediaFile,
    soft_binding: dict[str, Any] | list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The c2pa-rs manifest definition for a request (unless the user brought one).

    ``soft_binding`` is the ``c2pa.soft-binding`` assertion to add, or several
    (``softbinding``), in order: the first is the one the registry records.
    """
    if request.manifest_definition is not None:
        definition = dict(request.manifest_definition)
        definition.setdefault("claim_generator_info", [CLAIM_GENERATOR])
        return definition
    actions: list[dict[str, Any]]
    source_type = request.source_type
    if request.ai_generated and source_type is None:
        source_type = (
            COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
            if request.parent or request.components
            else TRAINED_ALGORITHMIC_MEDIA
        )
    if request.parent is not None:
        edit: dict[str, Any] = {}
        if source_type:
            edit["digitalSourceType"] = source_type_uri(source_type)
        actions = [{"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}}]
        actions += [{"action": name, **edit} for name in request.edit_actions]
    elif source_type is not None:
        actions = [{"action": "c2pa.created", "digitalSourceType": source_type_uri(source_type)}]
    else:
        actions = [{"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}}]
    actions += [
        {"action": "c2pa.placed", "parameters": {"ingredientIds": [component_label(index)]}}
        for index in range(len(request.components))
    ]
    if request.watermark is not None:
        # After the inception (and edits): the mark is the last change to the pixels.
        actions.append(
            {
                "action": WATERMARKED_BOUND,
                "description": f"Invisible {WATERMARK_ALG} watermark carrying this "
                "manifest's 32-bit ID",
            }
        )
    # Every action taken is listed, and the assertion is the claim's own (created, not
    # gathered): otherwise readers following the Asset Rubrics call the history ambiguous.
    assertions: list[dict[str, Any]] = [
        {
            "label": "c2pa.actions.v2",
            "data": {"actions": actions, "allActionsIncluded": True},
            "created": True,
        }
    ]
    if request.generator is not None:
        assertions.append(
            {"label": GENERATOR_ASSERTION, "data": request.generator.to_assertion_data()}
        )
    if request.training_mining is not None:
        assertions.append(request.training_mining.to_assertion())
    if isinstance(soft_binding, dict):
        assertions.append(soft_binding)
    elif soft_binding:
        assertions.extend(soft_binding)
    return {
        "claim_generator_info": [CLAIM_GENERATOR],
        "title": request.title or Path(media.name).name or f"asset.{media.format}",
        "format": media.mime_type,
        "assertions": assertions,
    }


@lru_cache(maxsize=8)
def _builder_context(thumbnails: Thumbnails, trust_anchors_pem: str | None) -> c2pa.Context:
    """Builder settings; the trust anchors decide what an ingredient's recorded status says."""
    import c2pa

    settings: dict[str, Any] = {
        "builder": {"thumbnail": _THUMBNAIL_SETTINGS[thumbnails]},
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    }
    if trust_anchors_pem:
        settings["trust"] = {"user_anchors": trust_anchors_pem}
    return c2pa.Context.from_dict(settings)


class ProvenanceSigner:
    """Signs assets with one identity; thread-safe, reusable, built once.

    Ingredients are validated when they are added and their status is recorded in the
    new manifest; ``trust_anchors_pem`` (by default the identity's own root, if known)
    decides whether their signers are recorded as trusted.
    """

    def __init__(
        self,
        identity: SigningIdentity,
        *,
        trust_anchors_pem: bytes | str | None = None,
        recorder: SignatureRecorder | None = None,
    ) -> None:
        check_signing_certificate(identity.cert_chain_pem)
        self.identity = identity
        self.recorder = recorder
        anchors = trust_anchors_pem if trust_anchors_pem is not None else identity.root_pem
        self._trust_anchors = anchors.decode() if isinstance(anchors, bytes) else anchors
        try:
            self._signer = identity.make_signer()
        except Exception as exc:  # c2pa raises its own error types
            raise SigningError(f"The signing identity cannot be used: {exc}.") from None
        # One c2pa signer serves one signature at a time.
        self._lock = threading.Lock()

    def sign(self, data: bytes | MediaFile, request: SignRequest | None = None) -> SignedAsset:
        import c2pa

        request = request or SignRequest()
        media = data if isinstance(data, MediaFile) else check_media(data)
        pdq, prints, iscc = self._image_hashes(media, request)
        bindings: list[dict[str, Any]] = []
        if request.soft_binding and request.manifest_definition is None:
            from provenance.softbinding import iscc_soft_binding_assertion, soft_binding_assertion

            if pdq is not None:
                bindings.append(soft_binding_assertion(*pdq))
            if iscc is not None:
                bindings.append(iscc_soft_binding_assertion(iscc))
        if request.watermark is not None:
            from provenance.softbinding import watermark_soft_binding_assertion

            bindings.append(watermark_soft_binding_assertion(request.watermark))
        definition = build_manifest_definition(request, media, bindings)
        try:
            builder = c2pa.Builder(
                definition, _builder_context(request.thumbnails, self._trust_anchors)
            )
        except c2pa.C2paError as exc:
            raise ManifestDefinitionError(f"The manifest definition was refused: {exc}.") from None
        with builder:
            parent = request.parent
            needs_self_parent = (
                parent is None
                and request.manifest_definition is None
                and request.source_type is None
                and not request.ai_generated
            )
            if parent is not None or needs_self_parent:
                parent_media = media if parent is None else check_media(parent.data, parent.title)
                ingredient = {
                    "title": parent.title if parent else definition["title"],
                    "relationship": "parentOf",
                    "label": "parent",
                }
                try:
                    builder.add_ingredient(
                        ingredient, parent_media.mime_type, io.BytesIO(parent_media.data)
                    )
                except c2pa.C2paError as exc:
                    if parent is not None:
                        raise InputError(f"The parent asset cannot be read: {exc}.") from None
                    # The file itself is recorded as what was opened: it is its own C2PA
                    # data that c2pa refuses to carry forward.
                    raise InputError(
                        f"{definition['title']} carries C2PA data that cannot be read ({exc}); "
                        "signing would record it as this file's history."
                    ) from None
            for index, component in enumerate(request.components):
                component_media = check_media(component.data, component.title)
                try:
                    builder.add_ingredient(
                        {
                            "title": component.title,
                            "relationship": "componentOf",
                            "label": component_label(index),
                        },
                        component_media.mime_type,
                        io.BytesIO(component_media.data),
                    )
                except c2pa.C2paError as exc:
                    raise InputError(
                        f"The component {component.title} cannot be read: {exc}."
                    ) from None
            destination = io.BytesIO()
            try:
                with self._lock:
                    manifest_bytes = builder.sign(
                        self._signer, media.mime_type, io.BytesIO(media.data), destination
                    )
            except c2pa.C2paError as exc:
                raise SigningError(_signing_failure(exc, self.identity)) from None
        signed = SignedAsset(
            data=destination.getvalue(),
            format=media.format,
            mime_type=media.mime_type,
            manifest_bytes=bytes(manifest_bytes),
            manifest_definition=definition,
            fingerprints=prints,
            iscc=iscc,
            watermark=request.watermark,
        )
        if self.recorder is not None:
            try:
                self.recorder.record_signature(signed, self.identity)
            except ProvauditError:
                raise
            except Exception as exc:  # a database error: no signed output without its record
                raise SigningError(
                    f"The image was signed but its manifest could not be recorded in the "
                    f"registry ({type(exc).__name__}: {exc})."
                ) from None
        return signed

    def new_watermark(self) -> int:
        """A fresh 32-bit watermark payload: one the recorder's registry does not hold yet
        (``unused_watermark``), or, with no registry, a random one."""
        allocate = getattr(self.recorder, "unused_watermark", None)
        if callable(allocate):
            return int(allocate())
        import secrets

        return secrets.randbelow(WATERMARK_IDS)

    def _image_hashes(
        self, media: MediaFile, request: SignRequest
    ) -> tuple[tuple[str, int] | None, Fingerprints | None, str | None]:
        """The PDQ hash for the soft binding, all fingerprints when a recorder wants them,
        and the ISCC Content-Code Image (for the ``io.iscc.v0`` binding and the record).

        Signing does not touch the pixels, so the hashes of the input are those of the
        signed image. A JPEG of 768 px or more is decoded at reduced scale
        (``decode_image_for_hashing``) for PDQ and pHash: the hashes barely move and the
        decode and PDQ cost a quarter or less. The ISCC code is computed from a full decode
        of the file as it is (``provenance.iscc``): it is the value other ISCC tools
        recompute from the same file, so it must be theirs bit for bit. Formats Pillow
        cannot decode are signed without soft bindings.
        """
        wants_binding = request.soft_binding and request.manifest_definition is None
        if not media.is_image or not (wants_binding or self.recorder is not None):
            return None, None, None
        from provenance.fingerprint import fingerprint, pdq_hash
        from provenance.iscc import image_code_of_bytes
        from provenance.media import decode_image_for_hashing

        try:
            image = decode_image_for_hashing(media.data, media.name)
            if self.recorder is not None:
                prints = fingerprint(image)
                pdq = (prints.pdq, prints.pdq_quality)
            else:
                prints, pdq = None, pdq_hash(image)
            del image
        except ProvauditError:
            return None, None, None
        try:
            iscc: str | None = image_code_of_bytes(media.data, media.name)
        except ProvauditError:  # PDQ and pHash were computed: the image keeps those
            iscc = None
        return (pdq if wants_binding else None), prints, iscc

    def close(self) -> None:
        self._signer.close()


def _signing_failure(exc: Exception, identity: SigningIdentity) -> str:
    message = str(exc).strip().replace("\n", " ")
    if identity.tsa_url:
        # c2pa-rs does not fall back to an untimestamped signature: name the likely cause.
        return (
            f"Signing failed: the timestamp authority {identity.tsa_url} did not answer or "
            f"refused ({message})."
        )
    return f"Signing failed: {message}."


def load_manifest_definition(path: Path) -> dict[str, Any]:
    """A full manifest definition from a JSON file, for power users."""
    try:
        definition = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestDefinitionError(f"{path} does not exist.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestDefinitionError(
            f"{path} is not a JSON manifest definition ({exc})."
        ) from None
    if not isinstance(definition, dict):
        raise ManifestDefinitionError(f"{path} must hold a JSON object.")
    return definition


def sign_file(
    source: Path | MediaFile,
    destination: Path,
    signer: ProvenanceSigner,
    request: SignRequest | None = None,
    *,
    force: bool = False,
) -> SignedAsset:
    """Sign ``source`` into ``destination`` (written atomically; never over the source).

    The output keeps the input's format and its extension must say so; an existing
    output is left alone unless ``force`` (:func:`check_output_path`).
    """
    import os

    media = source if isinstance(source, MediaFile) else read_media(source)
    if destination.resolve() == Path(media.name).resolve():
        raise InputError("The output must be a different file from the input.")
    check_output_path(destination, media.format, source_name=media.name, force=force)
    signed = signer.sign(media, request)
    temporary = destination.with_name(f".{destination.name}.partial")
    temporary.write_bytes(signed.data)
    try:
        if force:
            temporary.replace(destination)
        else:
            # A hard link fails if the name was taken since the check: never a silent
            # overwrite, even by a file that appeared while signing.
            try:
                os.link(temporary, destination)
            except FileExistsError:
                raise InputError(
                    f"{destination} already exists; use -f/--force to overwrite it."
                ) from None
            except OSError:  # a file system without hard links
                if destination.exists():
                    raise InputError(
                        f"{destination} already exists; use -f/--force to overwrite it."
                    ) from None
                temporary.replace(destination)
    finally:
        temporary.unlink(missing_ok=True)
    return signed


@dataclass(frozen=True)
class ManifestFacts:
    """What the registry keeps about a manifest definition provaudit signed."""

    title: str | None
    source_types: tuple[str, ...]
    generator: dict[str, Any] | None
    soft_binding_alg: str | None
    soft_binding_value: str | None

    @property
    def ai_declared(self) -> bool:
        return any(declares_ai(source_type) for source_type in self.source_types)


def manifest_facts(definition: dict[str, Any]) -> ManifestFacts:
    """Source types, generator assertion and first soft binding of a manifest definition."""
    assertions = definition.get("assertions") or []
    source_types = tuple(
        str(action.get("digitalSourceType"))
        for assertion in assertions
        if str(assertion.get("label", "")).startswith("c2pa.actions")
        for action in (assertion.get("data") or {}).get("actions", [])
        if action.get("digitalSourceType")
    )
    generator = next(
        (a.get("data") for a in assertions if a.get("label") == GENERATOR_ASSERTION), None
    )
    binding = next(
        (
            a.get("data") or {}
            for a in assertions
            if str(a.get("label", "")).startswith(SOFT_BINDING_ASSERTION)
        ),
        {},
    )
    blocks = binding.get("blocks") or [{}]
    return ManifestFacts(
        title=definition.get("title"),
        source_types=source_types,
        generator=generator,
        soft_binding_alg=binding.get("alg"),
        soft_binding_value=blocks[0].get("value"),
    )


@lru_cache(maxsize=64)
def signer_names(cert_chain_pem: bytes) -> tuple[str | None, str | None]:
    """(subject, issuer) common names of a signing chain's leaf certificate."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    def common_name(name: x509.Name) -> str | None:
        values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(values[0].value) if values else name.rfc4514_string() or None

    try:
        leaf = x509.load_pem_x509_certificates(cert_chain_pem)[0]
    except ValueError:
        return None, None
    return common_name(leaf.subject), common_name(leaf.issuer)
