"""What a bias report is asked to do: one dataclass shared by the CLI and the service."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from provenance.errors import InputError

NearDupHash = Literal["phash-centre", "pdq", "phash"]
NEAR_DUP_HASHES: tuple[str, ...] = ("phash-centre", "pdq", "phash")
Engine = Literal["local", "ray"]

# Near-duplicate radii for deduplicating a dataset: the largest radius whose exact FAISS
# search stays linear in the number of images (32-bit hash chunks, one bit flip per chunk:
# pigeonhole exact for r < 2 * bits / 32), 15 of 256 bits for PDQ and 3 of 64 for pHash.
# PDQ's match threshold of 31 (ThreatExchange pdq/README) is for matching an upload
# against a bank (one query, n codes); a self-join at 31 shortlists ~n/240 codes per
# image, so its cost grows with n squared. bench/neardup_thresholds.py measures what each
# radius keeps on real photos (at 15: re-encoding and brightness changes, about half of the
# resized copies of small images; crops survive at neither radius).
DEFAULT_PDQ_RADIUS = 15
DEFAULT_PHASH_RADIUS = 3
# The default hash, "phash-centre": every image carries two 64-bit pHashes, of the whole
# picture and of its central 95 % (provenance.fingerprint.phash_centre), and two images are
# near-duplicates when any of their codes lie within the radius. Small images and trimmed
# copies move pHash far less than PDQ; bench/neardup_engine.py measures recall per edit and
# size against the PDQ-15 default and the false pairs among distinct images, and times the
# search (service.bias.neardup.centre_pairs: exact FAISS multi-hash up to EXACT_MAX_IMAGES,
# a blocked search on parts of the codes above, where the exact one grows faster).
DEFAULT_CENTRE_RADIUS = 11
DEFAULT_NEAR_DUP_HASH = "phash-centre"
PDQ_MATCH_RADIUS = 31
SPLIT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# The split of images in DATASET that lie in no --split folder.
MAIN_SPLIT = "dataset"


class BiasReportError(InputError):
    """The dataset, its attributes file or an option cannot be used (one sentence)."""

    code = "bad_dataset"


@dataclass
class QualityThresholds:
    """Where the quality flags trip (see ``service.bias.definitions``)."""

    dark_below: float = 0.15
    bright_above: float = 0.90
    blurry_below: float = 100.0
    low_information_below: float = 2.0


@dataclass
class ReportOptions:
    dataset: Path
    attributes_file: Path | None = None
    attribute_columns: list[str] | None = None
    """Which sidecar columns are attributes; default every column but path/label/family."""
    folder_attributes: list[str] = field(default_factory=list)
    """Names for folder levels under each root (``key=value`` folders always count)."""
    splits: list[tuple[str, Path]] = field(default_factory=list)
    detector: Path | None = None
    reference_file: Path | None = None
    """JSON ``{attribute: {value: share}}``: the distribution to compare against."""
    near_dup_hash: NearDupHash = DEFAULT_NEAR_DUP_HASH  # type: ignore[assignment]
    near_dup_radius: int | None = None
    """Largest Hamming distance that counts as a near-duplicate; default per hash."""
    bootstrap: int = 200
    confidence: float = 0.95
    min_group_size: int = 30
    seed: int = 0
    engine: Engine = "local"
    workers: int = 0
    """Ray: parallel map tasks (0 = Ray's default)."""
    batch_size: int = 32
    training_split: str | None = None
    """Generator bias compares against real images of this split (default: all real)."""
    quality: QualityThresholds = field(default_factory=QualityThresholds)
    exclude: list[Path] = field(default_factory=list)
    """Folders never scanned (the output folder when it lies inside the dataset)."""
    consent_banks: list[str] = field(default_factory=list)
    """Hash banks of images whose subjects or owners withdrew consent (section 7)."""
    registry: str | None = None
    """The registry holding the consent banks (default: the one ``provaudit bank`` uses)."""
    scrub_out: Path | None = None
    """Where to write copies of the images without personal metadata (section 7)."""

    @property
    def radius(self) -> int:
        if self.near_dup_radius is not None:
            return self.near_dup_radius
        return {
            "pdq": DEFAULT_PDQ_RADIUS,
            "phash": DEFAULT_PHASH_RADIUS,
            "phash-centre": DEFAULT_CENTRE_RADIUS,
        }.get(self.near_dup_hash, DEFAULT_CENTRE_RADIUS)

    @property
    def hash_bits(self) -> int:
        return 256 if self.near_dup_hash == "pdq" else 64

    def validate(self) -> ReportOptions:
        """Refuse impossible settings with one sentence, before any image is read."""
        bits = self.hash_bits
        if self.near_dup_hash not in NEAR_DUP_HASHES:
            raise BiasReportError(
                f"Unknown near-duplicate hash {self.near_dup_hash!r}; use "
                + ", ".join(NEAR_DUP_HASHES)
                + "."
            )
        if not 0 <= self.radius < bits // 2:
            raise BiasReportError(
                f"The near-duplicate threshold must be between 0 and {bits // 2 - 1} bits for "
                f"{self.near_dup_hash}; {self.radius} was given."
            )
        if self.bootstrap < 10:
            raise BiasReportError("Use at least 10 bootstrap resamples (--bootstrap).")
        if not 0.5 <= self.confidence < 1:
            raise BiasReportError("The confidence level must be in [0.5, 1), e.g. 0.95.")
        if self.min_group_size < 1:
            raise BiasReportError("The small-group warning size must be at least 1.")
        if self.engine not in ("local", "ray"):
            raise BiasReportError(f"Unknown engine {self.engine!r}; use local or ray.")
        if self.batch_size < 1:
            raise BiasReportError("The batch size must be at least 1.")
        names = [name for name, _ in self.splits]
        for name, directory in self.splits:
            if not SPLIT_NAME.match(name):
                raise BiasReportError(
                    f"Split name {name!r} is not usable; use letters, digits, '.', '_' or '-'."
                )
            if name == MAIN_SPLIT:
                raise BiasReportError(
                    f"The split name {MAIN_SPLIT!r} is reserved for images of DATASET outside "
                    "every --split folder; pick another name."
                )
            if names.count(name) > 1:
                raise BiasReportError(f"The split {name!r} is given twice.")
            if not directory.is_dir():
                raise BiasReportError(f"The folder of split {name!r}, {directory}, does not exist.")
        return self

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
        data["splits"] = {name: str(path) for name, path in self.splits}
        data["exclude"] = [str(path) for path in self.exclude]
        data["near_dup_radius"] = self.radius
        return data


def parse_split(text: str) -> tuple[str, Path]:
    """``NAME=DIR`` from the command line."""
    name, sep, directory = text.partition("=")
    if not sep or not name.strip() or not directory.strip():
        raise BiasReportError(f"--split takes NAME=DIR (e.g. train=data/train), not {text!r}.")
    return name.strip(), Path(directory.strip())
