"""The training-and-data-mining assertion: whether an asset may be used to train AI.

C2PA 1.x defined it as ``c2pa.training-mining``; C2PA 2.x handed it to the Creator
Assertions Working Group, whose ``cawg.training-mining`` (v1.0) is what provaudit writes.
Both are read: files signed under either spec carry the same four entries, each prefixed
by its assertion's namespace (``cawg.ai_training`` or ``c2pa.ai_training``), with a
``use`` of ``allowed``, ``notAllowed`` or ``constrained`` and an optional
``constraint_info`` (how to ask, or what the constraint is).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from provenance.errors import InputError

TRAINING_MINING_ASSERTION = "cawg.training-mining"
"""The label provaudit writes (the CAWG assertion C2PA 2.x points to)."""
TRAINING_MINING_LABELS = ("cawg.training-mining", "c2pa.training-mining")
ENTRIES = ("ai_training", "ai_generative_training", "ai_inference", "data_mining")
"""The four pre-defined entries, without their namespace prefix."""
USES = ("allowed", "notAllowed", "constrained")
TRAINING_ENTRIES = ("ai_training", "ai_generative_training")
"""The entries whose ``notAllowed`` means: do not put this image in a training set."""

Use = Literal["allowed", "notAllowed", "constrained"]


def check_use(value: str, entry: str) -> Use:
    """``value`` as a ``use``; the spec's spelling (``notAllowed``) or its lower case."""
    by_lower = {use.lower(): use for use in USES}
    use = by_lower.get(value.strip().lower().replace("_", "").replace("-", ""))
    if use is None:
        raise InputError(f"{entry} must be one of {', '.join(USES)}, not {value!r}.")
    return use  # type: ignore[return-value]


@dataclass(frozen=True)
class TrainingMining:
    """The uses an asset's owner allows; an entry left None is not written (no statement)."""

    ai_training: Use | None = None
    ai_generative_training: Use | None = None
    ai_inference: Use | None = None
    data_mining: Use | None = None
    constraint_info: str | None = None
    """Written on every ``constrained`` entry: a URL or a sentence saying how to ask."""

    def __post_init__(self) -> None:
        for entry in ENTRIES:
            value = getattr(self, entry)
            if value is not None:
                object.__setattr__(self, entry, check_use(value, entry))
        if self.constraint_info is not None and "constrained" not in self.uses().values():
            raise InputError("A constraint is only written on an entry that is constrained.")
        if not self.uses():
            raise InputError("A training-and-mining statement needs at least one entry.")

    @classmethod
    def all(cls, use: str, constraint_info: str | None = None) -> TrainingMining:
        """The same ``use`` for all four entries (``--training-mining notAllowed``)."""
        value = check_use(use, "training-mining")
        return cls(value, value, value, value, constraint_info)

    def uses(self) -> dict[str, Use]:
        return {entry: getattr(self, entry) for entry in ENTRIES if getattr(self, entry)}

    def to_assertion(self) -> dict[str, Any]:
        namespace = TRAINING_MINING_ASSERTION.split(".", 1)[0]
        entries: dict[str, dict[str, str]] = {}
        for entry, use in self.uses().items():
            value = {"use": use}
            if use == "constrained" and self.constraint_info:
                value["constraint_info"] = self.constraint_info
            entries[f"{namespace}.{entry}"] = value
        return {"label": TRAINING_MINING_ASSERTION, "data": {"entries": entries}}


@dataclass(frozen=True)
class TrainingMiningStatement:
    """What a manifest says about training and mining (``verify``'s ``training_mining``)."""

    label: str
    entries: dict[str, dict[str, str]]
    """Entry name without its namespace (``ai_training``) → ``{use, constraint_info?}``;
    entries a producer added beyond the four keep their full name."""

    @property
    def forbids_training(self) -> bool:
        """AI training or generative-AI training is ``notAllowed``."""
        return any(self.entries.get(e, {}).get("use") == "notAllowed" for e in TRAINING_ENTRIES)

    def sentence(self) -> str:
        parts = []
        for entry, value in self.entries.items():
            text = f"{entry.replace('_', ' ')} {value.get('use', '?')}"
            if value.get("constraint_info"):
                text += f" ({value['constraint_info']})"
            parts.append(text)
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "forbids_training": self.forbids_training}


def read_training_mining(manifest: dict[str, Any]) -> TrainingMiningStatement | None:
    """The training-and-mining assertion of a manifest (c2pa ``Reader`` JSON), if any.

    A manifest carries at most one in practice; with both labels, the CAWG one wins.
    """
    found: dict[str, dict[str, Any]] = {}
    for assertion in manifest.get("assertions") or []:
        label = str(assertion.get("label", ""))
        # c2pa-rs numbers repeated labels (``cawg.training-mining__1``).
        base = label.split("__", 1)[0]
        if base in TRAINING_MINING_LABELS and base not in found:
            found[base] = assertion.get("data") or {}
    for label in TRAINING_MINING_LABELS:
        if label in found:
            raw = found[label].get("entries")
            if not isinstance(raw, dict):
                continue
            entries: dict[str, dict[str, str]] = {}
            for name, value in raw.items():
                if not isinstance(value, dict):
                    continue
                short = str(name)
                for prefix in ("cawg.", "c2pa."):
                    if short.startswith(prefix) and short[len(prefix) :] in ENTRIES:
                        short = short[len(prefix) :]
                entries[short] = {
                    key: str(value[key]) for key in ("use", "constraint_info") if key in value
                }
            # c2pa-rs sorts the map; the spec's order reads better.
            order = {entry: index for index, entry in enumerate(ENTRIES)}
            entries = dict(sorted(entries.items(), key=lambda item: order.get(item[0], 99)))
            return TrainingMiningStatement(label=label, entries=entries)
    return None
