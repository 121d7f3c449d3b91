"""C2PA signing of the images the generators write: generated ones declared AI at birth,
real crops signed as crops of their source photo.

Both ``generators.sample`` (data sets on disk) and the service's ``/v1/generate`` sign
through here, so an image means the same thing whichever wrote it.

Every image signed here at least ``provenance.watermark.MIN_SIDE`` px on each side is first
given an invisible watermark (``provenance.watermark``) whose 32-bit payload is a fresh ID
of the registry the signer records into (random without one), and its manifest declares
it (``c2pa.watermarked.bound`` and an ``org.provaudit.dwtdct`` soft binding): the pixels
signed are the marked ones. Real crops are marked like generated images, so the mark can
never tell a detector trained on both which is which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from generators.checkpoint import GeneratorCheckpoint
from generators.conditioning import Condition, ConditionImage
from provenance.errors import InputError

if TYPE_CHECKING:
    from provenance.signing import ProvenanceSigner
    from provenance.store import FingerprintStore

MODEL_NAMES = {
    "gan": "provaudit-dcgan",
    "diffusion": "provaudit-ddpm-unet",
    "vae": "provaudit-vae",
    "pixelcnn": "provaudit-gated-pixelcnn",
    "style": "provaudit-style-transfer",
    "text_diffusion": "provaudit-text-ddpm-unet",
}


@dataclass
class SigningSession:
    """The signer of one run, and the registry it records into (closed together)."""

    signer: ProvenanceSigner
    identity_created: bool
    store: FingerprintStore | None = None

    def close(self) -> None:
        try:
            self.signer.close()
        finally:
            if self.store is not None:
                self.store.close()


def open_signing(record: bool = True, registry: str | None = None) -> SigningSession:
    """The default identity's signer; with ``record``, every signature is recorded in the
    registry (as ``provaudit sign`` does), so stripped copies can be traced back."""
    from provenance.keys import default_identity
    from provenance.signing import ProvenanceSigner

    identity, created = default_identity()
    store = None
    if record:
        from provenance.store import FingerprintStore

        store = FingerprintStore.open(registry)
    try:
        signer = ProvenanceSigner(identity, recorder=store.manifests if store else None)
        return SigningSession(signer, created, store)
    except BaseException:
        if store is not None:
            store.close()
        raise


def _watermarked(signer: ProvenanceSigner, png: bytes) -> tuple[bytes, int | None]:
    """The PNG with a fresh watermark in its pixels and the payload, or the PNG unchanged
    and None when it is smaller than the mark needs."""
    import io

    from PIL import Image

    from provenance.watermark import MIN_SIDE, embed

    with Image.open(io.BytesIO(png)) as image:
        if image.width < MIN_SIDE or image.height < MIN_SIDE:
            return png, None
        image.load()
        payload = signer.new_watermark()
        marked = embed(image, payload)
    buffer = io.BytesIO()
    marked.save(buffer, format="PNG")
    return buffer.getvalue(), payload


def sign_generated(
    signer: ProvenanceSigner,
    png: bytes,
    title: str,
    info: GeneratorCheckpoint,
    seed: int,
    sampler: str | None,
    steps: int | None,
    *,
    watermark: bool = True,
    condition: Condition | None = None,
    components: Sequence[ConditionImage] = (),
) -> bytes:
    """The generated PNG, watermarked (``watermark``, when large enough) and signed as
    trainedAlgorithmicMedia with the generator assertion (and the ``condition`` it was
    asked for: prompt, class, content and style digests).

    With ``components`` (style transfer's content and style images) it is signed as
    compositeWithTrainedAlgorithmicMedia, each image a ``componentOf`` ingredient."""
    from provenance.signing import GeneratorInfo, Parent, SignRequest

    payload = None
    if watermark:
        png, payload = _watermarked(signer, png)
    request = SignRequest(
        title=title,
        ai_generated=True,
        generator=GeneratorInfo(
            family=info.family,
            model=MODEL_NAMES.get(info.family),
            checkpoint_sha256=info.weights_sha256,
            seed=seed,
            sampler=sampler,
            steps=steps,
            extra=condition.assertion_data() if condition is not None else {},
        ),
        watermark=payload,
        components=tuple(Parent(data=image.data, title=image.title) for image in components),
    )
    return signer.sign(png, request).data


def sign_real_crop(
    signer: ProvenanceSigner,
    png: bytes,
    title: str,
    parent: bytes,
    parent_title: str,
    *,
    watermark: bool = True,
) -> bytes:
    from provenance.signing import Parent, SignRequest

    payload = None
    if watermark:
        png, payload = _watermarked(signer, png)
    try:
        request = SignRequest(
            title=title,
            parent=Parent(data=parent, title=parent_title),
            edit_actions=("c2pa.cropped",),
            watermark=payload,
        )
        return signer.sign(png, request).data
    except InputError:
        # A source whose own C2PA data c2pa cannot read: sign the crop without the parent
        # ingredient rather than lose it (the manifest then records the crop as opened).
        return signer.sign(png, SignRequest(title=title, watermark=payload)).data
