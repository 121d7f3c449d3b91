"""Sampling from an ONNX export with numpy and onnxruntime only: no torch anywhere.

The DDIM and DDPM loops are the same code the torch path runs (:mod:`generators.ddim`,
:mod:`generators.ddpm` step numpy arrays as readily as tensors) and the latents and
sampler noise come from the same per-image numpy generators, so the ONNX images differ
from the torch ones only by float rounding inside the network; the tests bound it. The
PixelCNN's pixel-by-pixel loop is likewise the torch path's own
(:mod:`generators.pixelcnn_sampling`), on the exported network's mixture parameters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from generators.checkpoint import GeneratorCheckpoint
from generators.conditioning import Condition, class_index
from generators.ddpm import DDPMSchedule
from generators.noise import PerImageNoise
from generators.samplers import SampleOutput, make_sampler
from generators.text_prompts import guide, needs_unconditional, prompt_and_guidance, tokenize
from provenance.errors import CheckpointError


@dataclass
class OnnxGenerator:
    info: GeneratorCheckpoint
    session: Any

    @classmethod
    def open(cls, info: GeneratorCheckpoint) -> OnnxGenerator:
        """Check that the export matches the checkpoint's weights, then load it."""
        record = info.onnx
        if not record:
            raise CheckpointError(
                f"{info.directory} has no ONNX export; run "
                f"`provaudit generators export-onnx {info.directory}` first."
            )
        path = info.directory / record.get("file", "model.onnx")
        if not path.is_file():
            raise CheckpointError(f"The ONNX export {path} named in config.json is missing.")
        if record.get("weights_sha256") != info.weights_sha256:
            raise CheckpointError(
                f"The ONNX export in {info.directory} was made from other weights; run "
                f"`provaudit generators export-onnx {info.directory}` again."
            )
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != record.get("sha256"):
            raise CheckpointError(
                f"{path} does not match the sha256 recorded in config.json "
                "(modified or corrupted); export it again."
            )
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        # Spinning worker threads keep cores busy between runs, starving whatever else
        # the process does (signing, PNG encoding, torch in the tests) on small machines.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        return cls(info=info, session=session)

    def sample(
        self,
        noise: PerImageNoise,
        sampler: str = "ddim",
        sampling_steps: int | None = None,
        eta: float = 0.0,
        condition: Condition | None = None,
    ) -> SampleOutput:
        config: Any = self.info.config
        family = self.info.family
        if family == "gan":
            feeds = {"latent": noise.normal((config.latent_dim, 1, 1))}
            index = class_index(config, condition)
            if index is not None:
                feeds["class_id"] = np.full((len(noise),), index, dtype=np.int64)
            return SampleOutput(self._run(feeds), None, None)
        if family == "vae":
            latent = noise.normal((config.latent_dim,))
            return SampleOutput(self._run({"latent": latent}), None, None)
        if family == "pixelcnn":
            return SampleOutput(self.sample_pixels(noise), None, None)
        if family == "style":
            from generators.style_inputs import check_style_request, content_batch

            check_style_request(config, condition)
            content = content_batch(noise.seeds, config.image_size, condition)
            return SampleOutput(self._run({"content": content.images}), None, None)
        chosen = make_sampler(DDPMSchedule(config.schedule), sampler, sampling_steps, eta)
        batch = len(noise)
        if family == "text_diffusion":
            epsilon = self._text_epsilon(config, batch, condition)
            shape = (config.channels, config.image_size, config.image_size)
            result = chosen.sample(epsilon, noise, shape)
            images = np.asarray(result.images, np.float32)
            return SampleOutput(images, chosen.name, chosen.num_steps)

        def epsilon(sample: np.ndarray, timestep: int) -> np.ndarray:
            timesteps = np.full((batch,), timestep, dtype=np.int64)
            return self._run({"sample": sample.astype(np.float32), "timestep": timesteps})

        shape = (config.channels, config.image_size, config.image_size)
        result = chosen.sample(epsilon, noise, shape)
        return SampleOutput(np.asarray(result.images, np.float32), chosen.name, chosen.num_steps)

    def sample_pixels(self, noise: PerImageNoise, loop: str = "fast") -> np.ndarray:
        """PixelCNN samples; ``loop`` "naive" feeds the full image for every pixel."""
        from generators.pixelcnn_sampling import receptive_field_rows, sample_autoregressive

        config: Any = self.info.config
        return sample_autoregressive(
            lambda images: self._run({"image": images}),
            noise,
            config.channels,
            config.image_size,
            config.mixture_components,
            receptive_field_rows(config.layers, config.kernel_size, config.first_kernel_size),
            loop,  # type: ignore[arg-type]
        )

    def _text_epsilon(
        self, config: Any, batch: int, condition: Condition | None
    ) -> Callable[[np.ndarray, int], np.ndarray]:
        """The guided noise prediction, as :class:`~generators.families.TextDiffusionFamily`
        computes it: one network call on the prompted and the empty-prompt batch."""
        prompt, guidance = prompt_and_guidance(config, condition)
        guided = needs_unconditional(prompt, guidance)
        prompts = [prompt] * batch + ([""] * batch if guided else [])
        tokens = tokenize(prompts, config.text.max_tokens)

        def epsilon(sample: np.ndarray, timestep: int) -> np.ndarray:
            inputs = np.concatenate([sample, sample]) if guided else sample
            timesteps = np.full((inputs.shape[0],), timestep, dtype=np.int64)
            feeds = {"sample": inputs.astype(np.float32), "timestep": timesteps, "tokens": tokens}
            predicted = self._run(feeds)
            if not guided:
                return predicted
            return guide(predicted[:batch], predicted[batch:], guidance)

        return epsilon

    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, feeds)[0]
