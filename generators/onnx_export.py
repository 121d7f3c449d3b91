"""Exporting a checkpoint's sampling network to ONNX, so ``generate`` can run without torch.

Only the network that sampling evaluates is exported: the GAN's generator, the VAE's
decoder, the diffusion UNet (one denoising evaluation; the DDIM/DDPM loop stays in
numpy, :mod:`generators.onnx_sampling`), the PixelCNN's network (image to mixture
parameters, with a dynamic height so that sampling can feed only the rows that matter;
the pixel-by-pixel loop stays in numpy), the style-transfer network (content in,
stylised out), and the text-conditioned UNet with its text encoder (tokenizing and
guidance stay in numpy). ``config.json`` records the ONNX file's sha256 and the sha256 of the
weights it was exported from, so a stale export (weights retrained since) is refused
rather than silently used under the new checkpoint's name.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

from generators.checkpoint import (
    load_checkpoint,
    read_config_document,
    write_config_document,
)
from provenance.errors import ProvauditError

ONNX_FILE = "model.onnx"
DEFAULT_OPSET = 17
# What the exported graph computes, per family: names the sampling code relies on.
GRAPH_SIGNATURES: dict[str, dict[str, Any]] = {
    "gan": {"kind": "generator", "inputs": ["latent"], "outputs": ["image"]},
    "vae": {"kind": "decoder", "inputs": ["latent"], "outputs": ["image"]},
    "diffusion": {"kind": "epsilon", "inputs": ["sample", "timestep"], "outputs": ["epsilon"]},
    "pixelcnn": {"kind": "mixture-parameters", "inputs": ["image"], "outputs": ["parameters"]},
    "style": {"kind": "stylizer", "inputs": ["content"], "outputs": ["image"]},
    # The text encoder and the UNet in one graph: the prompt's byte tokens in, the noise
    # prediction out; tokenizing and classifier-free guidance stay in numpy.
    "text_diffusion": {
        "kind": "text_epsilon",
        "inputs": ["sample", "timestep", "tokens"],
        "outputs": ["epsilon"],
    },
}


def export_onnx(checkpoint_dir: Path | str, opset: int = DEFAULT_OPSET) -> dict[str, Any]:
    """Write ``CKPT/model.onnx`` and record it in ``config.json``; returns that record."""
    from importlib.util import find_spec

    if find_spec("onnx") is None:
        raise ProvauditError("Exporting to ONNX needs the onnx package: pip install onnx.")
    import torch
    from torch import nn

    loaded = load_checkpoint(checkpoint_dir, device="cpu")
    family, config, model = loaded.family, loaded.config, loaded.model
    signature = GRAPH_SIGNATURES[family]
    module: nn.Module
    if family == "gan":
        module = model.generator
        example: tuple[torch.Tensor, ...] = (torch.zeros(2, config.latent_dim, 1, 1),)
        if config.class_names:
            signature = {**signature, "inputs": [*signature["inputs"], "class_id"]}
            example = (*example, torch.zeros(2, dtype=torch.int64))
    elif family == "vae":
        from generators.vae import VAEDecoder

        module = VAEDecoder(model)
        example = (torch.zeros(2, config.latent_dim),)
    elif family == "pixelcnn":
        module = model.network
        # Not the full size: a traced constant height would then go unnoticed in tests.
        example = (torch.zeros(2, config.channels, 5, config.image_size),)
    elif family == "style":
        module = model.stylizer
        size = config.image_size
        example = (torch.zeros(2, config.channels, size, size),)
    elif family == "text_diffusion":
        module = model.sampling_denoiser
        size = config.image_size
        example = (
            torch.zeros(2, config.channels, size, size),
            torch.zeros(2, dtype=torch.int64),
            torch.ones(2, config.text.max_tokens, dtype=torch.int64),
        )
    else:
        module = model.sampling_unet
        size = config.image_size
        example = (torch.zeros(2, config.channels, size, size), torch.zeros(2, dtype=torch.int64))
    dynamic: dict[str, dict[int, str]] = {
        name: {0: "batch"} for name in [*signature["inputs"], *signature["outputs"]]
    }
    if family == "pixelcnn":
        dynamic = {name: {0: "batch", 2: "height"} for name in dynamic}
    path = loaded.info.directory / ONNX_FILE
    temporary = path.with_name(f".{path.name}.partial")
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of one that needs onnxscript;
        # it still exports these plain convolutional graphs exactly.
        warnings.simplefilter("ignore", DeprecationWarning)
        # BatchNorm's batch-size check is traced as a constant; harmless in eval mode.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # The PixelCNN's shifts slice with a dynamic end, which is not folded; still exact.
        warnings.filterwarnings("ignore", "Constant folding", UserWarning)
        # Instance norm always normalises by the image's own statistics (it keeps no
        # running ones), which is what the exporter's "train=True" notice is about; the
        # reflection padding's slices are simply left unfolded.
        warnings.filterwarnings("ignore", ".*instance_norm.*", UserWarning)
        warnings.filterwarnings("ignore", "Constant folding.*Slice", UserWarning)
        torch.onnx.export(
            module.eval(),
            example,
            str(temporary),
            input_names=signature["inputs"],
            output_names=signature["outputs"],
            dynamic_axes=dynamic,
            opset_version=opset,
            dynamo=False,
        )
    temporary.replace(path)
    record = {
        "file": ONNX_FILE,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "weights_sha256": loaded.sha256,
        "opset": opset,
        **signature,
    }
    document = read_config_document(loaded.info.directory)
    document["onnx"] = record
    write_config_document(loaded.info.directory, document)
    return {"checkpoint": str(loaded.info.directory), "onnx": str(path), **record}
