"""Small image generators and the signed real/fake data sets detectors are trained on.

Modules (importing this package imports nothing heavy; torch is loaded by the modules
that need it):

* ``data``: image folders as random crops (shared with the detectors); ``realphotos``:
  offline real photos from library wheels.
* ``dcgan``, ``unet``, ``vae``: the networks; ``ddpm``, ``ddim``: the diffusion schedule
  and samplers; ``configs``: their dataclass configurations; ``families``: the registry.
* ``checkpoint``: config.json + model.safetensors; ``train``: the training loop.
* ``sample``: ``generate`` and ``export_real`` (C2PA-signed data sets); ``evaluate``;
  ``onnx_export`` / ``onnx_sampling``: sampling without torch; ``cli``: the commands.
"""
