"""What a conditional generation is asked for, and what a conditional model trains on.

Torch-free on purpose: ``generate`` checks a request against the checkpoint's
configuration before it loads any network, on the torch and the ONNX path alike, so a
prompt sent to a model that takes none fails at once with one clear error.

The kinds of condition a model accepts come from its configuration's ``conditioning``
attribute (absent: none). A family that takes conditions defines it on its config class.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from provenance.errors import InputError

ConditionKind = Literal["prompt", "class", "content", "style"]
CONDITION_KINDS: tuple[ConditionKind, ...] = ("prompt", "class", "content", "style")
MAX_PROMPT_CHARS = 1000


class ConditionError(InputError):
    code = "bad_condition"


@dataclass(frozen=True)
class ConditionImage:
    """An image a generation is conditioned on (style transfer's content or style), as the
    file it came from: its bytes are what the signed manifest names as an ingredient."""

    data: bytes
    title: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def pixels(self) -> np.ndarray:
        """HWC uint8 RGB, through the same guarded decoder as every other upload."""
        from provenance.media import decode_image

        return np.asarray(decode_image(self.data, self.title, "RGB"))


@dataclass(frozen=True)
class Condition:
    """One generation request's conditions; ``None`` fields are not asked for.

    ``guidance`` is the classifier-free guidance scale of conditional diffusion (1: plain
    conditional sampling; absent: the model's default).
    """

    prompt: str | None = None
    class_name: str | None = None
    guidance: float | None = None
    content: ConditionImage | None = None
    style: ConditionImage | None = None

    def __post_init__(self) -> None:
        if self.prompt is not None:
            if not self.prompt.strip():
                raise ConditionError("The prompt is empty; describe the image to generate.")
            if len(self.prompt) > MAX_PROMPT_CHARS:
                raise ConditionError(
                    f"The prompt is {len(self.prompt)} characters; at most "
                    f"{MAX_PROMPT_CHARS} are accepted."
                )
        if self.class_name is not None and not self.class_name.strip():
            raise ConditionError("The class name is empty.")
        if self.guidance is not None and not (0.0 <= self.guidance <= 50.0):
            raise ConditionError(f"The guidance scale must be in [0, 50], not {self.guidance}.")

    @property
    def kinds(self) -> tuple[ConditionKind, ...]:
        asked = {
            "prompt": self.prompt,
            "class": self.class_name,
            "content": self.content,
            "style": self.style,
        }
        return tuple(kind for kind in CONDITION_KINDS if asked[kind] is not None)

    def assertion_data(self) -> dict[str, Any]:
        """What the ``org.provaudit.generator`` assertion records of the conditions."""
        data: dict[str, Any] = {}
        if self.prompt is not None:
            data["prompt"] = self.prompt
        if self.class_name is not None:
            data["class"] = self.class_name
        if self.guidance is not None:
            data["guidance"] = self.guidance
        if self.content is not None:
            data["content_sha256"] = self.content.sha256
        if self.style is not None:
            data["style_sha256"] = self.style.sha256
        return data


def accepted_conditions(config: Any) -> tuple[ConditionKind, ...]:
    """The kinds of condition a model with this configuration can be given."""
    return tuple(getattr(config, "conditioning", ()))


def required_conditions(config: Any) -> tuple[ConditionKind, ...]:
    """The kinds of condition a model with this configuration cannot generate without."""
    return tuple(getattr(config, "required_conditioning", ()))


_WHAT = {
    "prompt": "a prompt",
    "class": "a class",
    "content": "a content image",
    "style": "a style image",
}
_OPTION = {"prompt": "--prompt", "class": "--class", "content": "--content", "style": "--style"}


def check_condition(family: str, config: Any, condition: Condition | None) -> None:
    """Refuse conditions the model cannot use, or the lack of one it needs, before
    anything is loaded or sampled."""
    asked = condition.kinds if condition is not None else ()
    missing = [kind for kind in required_conditions(config) if kind not in asked]
    if missing:
        raise ConditionError(
            f"This {family} checkpoint needs {_WHAT[missing[0]]} ({_OPTION[missing[0]]}, or "
            f'"{missing[0]}" in a /v1/generate request).'
        )
    if condition is None:
        return
    accepted = accepted_conditions(config)
    refused = [kind for kind in condition.kinds if kind not in accepted]
    if not refused:
        # A model may refuse more than kinds (style transfer: a style it was not trained on).
        check_model_specific = getattr(config, "check_condition", None)
        if check_model_specific is not None:
            check_model_specific(condition)
        return
    takes = ", ".join(_WHAT[kind] for kind in accepted) if accepted else "no conditions"
    raise ConditionError(
        f"This {family} checkpoint cannot be given {_WHAT[refused[0]]}; it takes {takes}."
    )


def class_index(config: Any, condition: Condition | None) -> int | None:
    """The class id a class-conditional model is asked for (None: not class-conditional).

    Such a model needs its class: there is no unconditional mode to fall back to.
    """
    names = tuple(getattr(config, "class_names", ()))
    if not names:
        return None
    listed = ", ".join(names)
    if condition is None or condition.class_name is None:
        raise ConditionError(
            f'This checkpoint is class-conditional; pass --class ("class" in a '
            f"/v1/generate request), one of {listed}."
        )
    if condition.class_name not in names:
        raise ConditionError(
            f"Unknown class {condition.class_name!r}; this checkpoint knows {listed}."
        )
    return names.index(condition.class_name)


def with_model_defaults(config: Any, condition: Condition | None) -> Condition | None:
    """``condition`` with the guidance scale the model will use filled in (its config's
    default when the request names none), so the signed manifest records what was used."""
    default = getattr(config, "guidance", None)
    if condition is None or condition.guidance is not None or default is None:
        return condition
    return dataclasses.replace(condition, guidance=float(default))


@dataclass(frozen=True)
class TrainingLabels:
    """What a conditional model learns alongside a batch of crops: the class id of each
    crop (from class subfolders) and its caption (``image.txt`` beside ``image.png``)."""

    class_ids: np.ndarray | None = None
    captions: Sequence[str] | None = None
