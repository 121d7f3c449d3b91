"""``POST /v1/generate``: the bundled generators on onnxruntime, each image signed at birth.

The generators package already has everything: :class:`~generators.onnx_sampling.
OnnxGenerator` samples with numpy and onnxruntime only, and the images are PNG-encoded and
C2PA-signed by the same functions ``provaudit generate`` uses (``trainedAlgorithmicMedia``
plus the ``org.provaudit.generator`` assertion naming family, checkpoint sha256, seed,
sampler and steps). This module only loads one session per family once and keeps the
images in memory instead of writing a data set. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generators.checkpoint import CONFIG_FILE, read_checkpoint_info
from generators.conditioning import Condition, check_condition, with_model_defaults
from generators.configs import FAMILIES, STEPPED_FAMILIES
from generators.data import unit_to_uint8
from generators.noise import PerImageNoise, image_seeds
from generators.onnx_sampling import OnnxGenerator
from generators.sample import composition_ingredients, encode_png, fake_file_name
from generators.samplers import SAMPLERS
from generators.signing import MODEL_NAMES, sign_generated
from provenance.errors import CheckpointError, ProvauditError

if TYPE_CHECKING:
    from provenance.signing import ProvenanceSigner

logger = logging.getLogger("provaudit.service")

BUNDLED_GENERATORS = Path(__file__).resolve().parents[1] / "generators" / "weights"
MAX_IMAGES = 16
"""Images per request: bounds how long one request holds the sampler."""
MAX_SAMPLING_STEPS = 100
DEFAULT_SAMPLING_STEPS = 50
MAX_SEED = 2**32 - 1
MEDIA_TYPE = "image/png"


class GeneratorUnavailableError(ProvauditError):
    code = "generator_unavailable"


@dataclass(frozen=True)
class GeneratedImage:
    index: int
    seed: int
    file_name: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class GenerationResult:
    family: str
    model: str | None
    checkpoint_sha256: str
    seed: int
    sampler: str | None
    steps: int | None
    image_size: int
    images: list[GeneratedImage] = field(default_factory=list)
    seconds: float = 0.0
    condition: Condition | None = None

    def summary(self) -> dict[str, Any]:
        """Everything but the pixels (the zip's ``generation.json``)."""
        return {
            "family": self.family,
            "model": self.model,
            "checkpoint_sha256": self.checkpoint_sha256,
            "seed": self.seed,
            "n": len(self.images),
            "sampler": self.sampler,
            "steps": self.steps,
            "width": self.image_size,
            "height": self.image_size,
            "prompt": self.condition.prompt if self.condition else None,
            "guidance": self.condition.guidance if self.condition else None,
            "class": self.condition.class_name if self.condition else None,
            "seconds": round(self.seconds, 3),
            "images": [
                {
                    "index": image.index,
                    "seed": image.seed,
                    "file_name": image.file_name,
                    "sha256": image.sha256,
                    "media_type": MEDIA_TYPE,
                }
                for image in self.images
            ],
        }


class GeneratorSet:
    """One onnxruntime session per family found in a generators directory, loaded once.

    The directory holds one checkpoint folder per family (``<dir>/gan``, ``<dir>/vae``,
    ``<dir>/diffusion``, ``<dir>/text_diffusion``), each with ``config.json`` and its ONNX
    export, the layout of ``generators/weights``. A family that is missing or fails its
    checks is left out and the reason kept, so a request for it is a clear 404 rather than
    a failure at startup.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.loaded: dict[str, OnnxGenerator] = {}
        self.unavailable: dict[str, str] = {}
        for family in FAMILIES:
            checkpoint = directory / family
            if not (checkpoint / CONFIG_FILE).is_file():
                self.unavailable[family] = f"no {family} checkpoint in {directory}"
                continue
            try:
                self.loaded[family] = OnnxGenerator.open(read_checkpoint_info(checkpoint, family))
            except CheckpointError as exc:
                logger.warning("Generator %s not loaded: %s", family, exc)
                self.unavailable[family] = str(exc)

    @property
    def families(self) -> list[str]:
        return sorted(self.loaded)

    def get(self, family: str) -> OnnxGenerator:
        generator = self.loaded.get(family)
        if generator is None:
            reason = self.unavailable.get(family, f"{family!r} is not a generator family")
            available = ", ".join(self.families) or "none"
            raise GeneratorUnavailableError(
                f"The {family} generator is not available ({reason}); available: {available}."
            )
        return generator

    def generate(
        self,
        family: str,
        n: int,
        signer: ProvenanceSigner,
        *,
        seed: int = 0,
        sampler: str = "ddim",
        sampling_steps: int | None = DEFAULT_SAMPLING_STEPS,
        condition: Condition | None = None,
    ) -> GenerationResult:
        """``n`` signed PNGs; image ``i`` is drawn from seed ``seed + i`` alone.

        The same seed, sampler, steps and condition (a prompt and guidance scale, for a
        text-conditioned family) give the same pixels as ``provaudit generate --backend
        onnx`` with that checkpoint; the condition is refused when the family cannot take
        it (or needs one) and recorded in every manifest.
        """
        started = time.perf_counter()
        if not 1 <= n <= MAX_IMAGES:
            raise ProvauditError(f"n must be between 1 and {MAX_IMAGES}, got {n}.")
        if sampler not in SAMPLERS:
            raise ProvauditError(f"Unknown sampler {sampler!r}; use one of {', '.join(SAMPLERS)}.")
        generator = self.get(family)
        info = generator.info
        check_condition(family, info.config, condition)
        condition = with_model_defaults(info.config, condition)
        if family not in STEPPED_FAMILIES:
            sampling_steps = None  # single pass: nothing to step
        seeds = image_seeds(seed, n)
        output = generator.sample(
            PerImageNoise(seeds), sampler, sampling_steps, condition=condition
        )
        # Style transfer stylises built-in photo crops: each is signed with its source photo
        # and the style image as ingredients.
        ingredients = composition_ingredients(info, None)
        result = GenerationResult(
            family=family,
            model=MODEL_NAMES.get(family),
            checkpoint_sha256=info.weights_sha256,
            seed=seed,
            sampler=output.sampler,
            steps=output.steps,
            image_size=info.config.image_size,
            condition=condition,
        )
        for index, (image_seed, pixels) in enumerate(
            zip(seeds, unit_to_uint8(output.images), strict=True)
        ):
            name = fake_file_name(info.weights_sha256, image_seed, output.sampler, output.steps)
            data = sign_generated(
                signer,
                encode_png(pixels),
                name,
                info,
                image_seed,
                output.sampler,
                output.steps,
                components=ingredients(image_seed) if ingredients else (),
                condition=condition,
            )
            result.images.append(GeneratedImage(index, image_seed, name, data))
        result.seconds = time.perf_counter() - started
        return result


def load_generators(directory: Path | None) -> GeneratorSet:
    """The generators in ``directory`` (default: the bundled ``generators/weights``)."""
    chosen = directory if directory is not None else BUNDLED_GENERATORS
    generators = GeneratorSet(chosen)
    if not generators.loaded:
        logger.warning("No generators loaded from %s: /v1/generate answers 404.", chosen)
    return generators
