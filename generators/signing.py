"""C2PA signing of the images the generators write: generated ones declared AI at birth,
real crops signed as crops of their source photo.

Both ``generators.sample`` (data sets on disk) and the service's ``/v1/generate`` sign
through here, so an image means the same thing whichever wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from generators.checkpoint import GeneratorCheckpoint
from provenance.errors import InputError

if TYPE_CHECKING:
    from provenance.signing import ProvenanceSigner
    from provenance.store import FingerprintStore

MODEL_NAMES = {"gan": "provaudit-dcgan", "diffusion": "provaudit-ddpm-unet", "vae": "provaudit-vae"}


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


def sign_generated(
    signer: ProvenanceSigner,
    png: bytes,
    title: str,
    info: GeneratorCheckpoint,
    seed: int,
    sampler: str | None,
    steps: int | None,
) -> bytes:
    from provenance.signing import GeneratorInfo, SignRequest

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
        ),
    )
    return signer.sign(png, request).data


def sign_real_crop(
    signer: ProvenanceSigner, png: bytes, title: str, parent: bytes, parent_title: str
) -> bytes:
    from provenance.signing import Parent, SignRequest

    try:
        request = SignRequest(
            title=title,
            parent=Parent(data=parent, title=parent_title),
            edit_actions=("c2pa.cropped",),
        )
        return signer.sign(png, request).data
    except InputError:
        # A source whose own C2PA data c2pa cannot read: sign the crop without the parent
        # ingredient rather than lose it (the manifest then records the crop as opened).
        return signer.sign(png, SignRequest(title=title)).data
