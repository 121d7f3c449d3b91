"""Section 7 of the report, privacy and consent: who is shown, what the files say about
people, who asked to be left out, and what was published with "do not train".

Per image (in the per-image stage, so ``--engine ray`` computes it on its workers): the
faces OpenCV's Haar cascade finds, the personal metadata fields a file carries
(``provenance.personaldata``; their names, never their values), and whether an intact
C2PA manifest forbids AI training or generative-AI training, with its signer. In the
aggregation: matches against consent banks, hash banks (``provaudit bank``) of images
whose subjects or owners withdrew consent; only their hashes are stored, StopNCII-style.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np

from provenance.personaldata import (
    EXIF_PERSONAL,
    IPTC_PERSONAL,
    KIND_TEXT,
    PNG_TEXT_PERSONAL,
    XMP_PERSONAL,
    find_personal_metadata,
)
from service.bias.options import BiasReportError

FACE_CASCADE = "haarcascade_frontalface_alt2.xml"
# Faces are searched on a copy whose longest side is at most this: a 24 Mpx photo costs
# what a 512 px one does (the quality statistics use the same scale), and a face under
# ~4% of the long side is not sought.
FACE_MAX_SIDE = 512
FACE_MIN_SIDE = 20
FACE_SCALE_FACTOR = 1.2
FACE_MIN_NEIGHBOURS = 5
FACE_DETECTOR_TEXT = (
    f"OpenCV's Haar cascade {FACE_CASCADE} (frontal faces, scale step {FACE_SCALE_FACTOR}, "
    f"{FACE_MIN_NEIGHBOURS} neighbours, faces of {FACE_MIN_SIDE} px or more on a copy at most "
    f"{FACE_MAX_SIDE} px long). It misses faces in profile, tilted or small, and calls some "
    "textures faces: a count to check by eye, not proof that a person is shown."
)
# Sentences name at most this many images; report.json lists them all.
NAMED_IMAGES = 12

PRIVACY_DEFAULTS: dict[str, Any] = {
    "faces": -1,
    "face_sizes": "",
    "personal_metadata": "",
    "do_not_train": False,
    "training_signer": "",
    "training_uses": "",
}
PRIVACY_STRING_COLUMNS = ("face_sizes", "personal_metadata", "training_signer", "training_uses")
PRIVACY_BOOL_COLUMNS = ("do_not_train",)

_FIELD_KIND = {
    name: kind
    for table in (EXIF_PERSONAL, XMP_PERSONAL, IPTC_PERSONAL, PNG_TEXT_PERSONAL)
    for name, kind in table.values()
}
_FIELD_KIND["EXIF GPS position"] = "gps"


class FaceFinder:
    """The Haar cascade, loaded once per analyser (per Ray worker); None without OpenCV."""

    def __init__(self) -> None:
        try:
            import cv2
        except ImportError:
            self.cascade = None
            return
        cv2.setNumThreads(1)  # the per-image stage is parallel already (batches, Ray)
        self.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + FACE_CASCADE)
        if self.cascade.empty():
            raise BiasReportError(f"OpenCV's {FACE_CASCADE} could not be loaded.")

    @property
    def available(self) -> bool:
        return self.cascade is not None

    def face_sizes(self, rgb: np.ndarray, long_side: int | None = None) -> list[int]:
        """The side of each face found, largest first, in pixels of the original image
        (whose long side is ``long_side`` when ``rgb`` is a reduced copy of it)."""
        import cv2

        assert self.cascade is not None
        gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        to_original = (long_side or max(gray.shape)) / max(gray.shape)
        scale = min(1.0, FACE_MAX_SIDE / max(gray.shape))
        if scale < 1.0:
            size = (round(gray.shape[1] * scale), round(gray.shape[0] * scale))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        if min(gray.shape) < FACE_MIN_SIDE:
            return []
        gray = cv2.equalizeHist(gray)
        boxes = self.cascade.detectMultiScale(
            gray,
            scaleFactor=FACE_SCALE_FACTOR,
            minNeighbors=FACE_MIN_NEIGHBOURS,
            minSize=(FACE_MIN_SIDE, FACE_MIN_SIDE),
        )
        return sorted((round(int(box[2]) * to_original / scale) for box in boxes), reverse=True)


def image_privacy(
    data: bytes, rgb: np.ndarray, long_side: int, faces: FaceFinder
) -> dict[str, Any]:
    """The per-image privacy columns of one file, from its pixels (``rgb``, possibly a
    reduced copy of an image whose long side is ``long_side``)."""
    row: dict[str, Any] = {}
    if faces.available:
        try:
            sizes = faces.face_sizes(rgb, long_side)
        except Exception:  # an OpenCV error on odd pixels leaves this image unchecked (-1)
            sizes = None
        if sizes is not None:
            row["faces"], row["face_sizes"] = len(sizes), ",".join(map(str, sizes))
    row["personal_metadata"] = "; ".join(f.name for f in find_personal_metadata(data))
    return row


def training_privacy(report: Any) -> dict[str, Any]:
    """``do_not_train`` and its signer from a ``ProvenanceReport``: only an intact manifest
    (trusted or valid) counts, as a broken one may not be its signer's word."""
    statement = report.training_mining
    if statement is None or report.state not in ("trusted", "valid"):
        return {}
    signer = report.signer
    name = (signer.common_name or signer.issuer or "") if signer else ""
    return {
        "do_not_train": statement.forbids_training,
        "training_signer": name or "an unnamed signer",
        "training_uses": statement.sentence(),
    }


def check_consent_banks(banks: list[str], registry: str | None) -> None:
    """Refuse an unknown consent bank before any image is read."""
    if not banks:
        return
    from provenance.registry import NotFoundError

    store = _open_store(registry)
    try:
        for name in banks:
            try:
                store.banks.bank(name)
            except NotFoundError:
                raise BiasReportError(
                    f"There is no hash bank named {name!r} for --consent-bank "
                    "(provaudit bank create makes one)."
                ) from None
    finally:
        store.close(save=False)


def _open_store(registry: str | None) -> Any:
    from provenance.store import FingerprintStore

    try:
        return FingerprintStore.open(registry)
    except Exception as exc:  # the registry's own errors: a bad URL, a locked file
        raise BiasReportError(
            f"The registry of the consent bank cannot be opened ({type(exc).__name__}: {exc})."
        ) from None


def consent_matches(
    table: dict[str, np.ndarray], keys: list[str], banks: list[str], registry: str | None
) -> list[dict[str, Any]]:
    """Images matching a consent bank: ``{image, bank, bank_content_id, distance, signal}``."""
    if not banks:
        return []
    from provenance.errors import ProvauditError
    from provenance.hashquery import HashQuery

    rows = [i for i in range(len(keys)) if table["ok"][i]]
    queries = [
        HashQuery(
            pdq=str(table["pdq"][i]) or None,
            pdq_quality=int(table["pdq_quality"][i]),
            phash=str(table["phash"][i]) or None,
        )
        for i in rows
    ]
    store = _open_store(registry)
    try:
        results = store.banks.lookup(queries, banks=banks)
    except ProvauditError as exc:
        raise BiasReportError(f"Consent bank: {exc}") from None
    finally:
        store.close(save=False)
    matches = []
    for i, result in zip(rows, results, strict=True):
        for bank, hits in result.items():
            best = hits[0]
            matches.append(
                {
                    "image": keys[i],
                    "bank": bank,
                    "bank_content_id": best["bank_content_id"],
                    "distance": best["distance"],
                    "signal": best["signal"],
                }
            )
    return matches


def write_scrubbed(
    table: dict[str, np.ndarray], keys: list[str], paths: list[Path], out_dir: Path
) -> dict[str, Any]:
    """Copies of every readable image under ``out_dir`` without personal metadata
    (``provaudit scrub``'s rewrite), named by their report key; the originals are only read."""
    from provenance.errors import ProvauditError
    from provenance.files import atomic_write
    from provenance.personaldata import scrub_bytes

    jobs = [
        (i, key, out_dir / key.replace(":", "/", 1)) for i, key in enumerate(keys) if table["ok"][i]
    ]
    originals = {path.resolve() for path in paths}
    for _i, key, destination in jobs:
        if destination.resolve() in originals:
            raise BiasReportError(
                f"--scrub-out {out_dir} would write the copy of {key} over an original; "
                "pick a folder that holds no image of the dataset."
            )
    copies, changed, refused = 0, [], []
    for i, key, destination in jobs:
        try:
            result = scrub_bytes(paths[i].read_bytes(), key)
        except ProvauditError as exc:
            refused.append({"image": key, "reason": str(exc)})
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(destination, result.data)
        copies += 1
        if result.changed:
            changed.append(key)
    return {"folder": str(out_dir), "copies": copies, "changed": changed, "refused": refused}


def metadata_kinds(fields: str) -> list[str]:
    """The kinds (``gps``, ``serial``, ``name``, ...) of a ``personal_metadata`` cell."""
    return sorted({_FIELD_KIND.get(n, "name") for n in fields.split("; ") if n})


def largest_face_share(face_sizes: str, width: int, height: int) -> float | None:
    """The largest face's box (a square of its side) as a share of the image's area."""
    sizes = [int(s) for s in face_sizes.split(",") if s]
    if not sizes or width <= 0 or height <= 0:
        return None
    return min(1.0, max(sizes) ** 2 / (width * height))


def privacy_section(
    table: dict[str, np.ndarray],
    keys: list[str],
    banks: list[str],
    registry: str | None,
    paths: list[Path] | None = None,
    scrub_out: Path | None = None,
) -> dict[str, Any]:
    ok = [bool(value) for value in table["ok"]]
    readable = sum(ok)
    checked = any(ok[i] and int(table["faces"][i]) >= 0 for i in range(len(keys)))
    with_faces = []
    for i, key in enumerate(keys):
        if ok[i] and int(table["faces"][i]) > 0:
            sizes = [int(s) for s in str(table["face_sizes"][i]).split(",") if s]
            with_faces.append({"image": key, "faces": len(sizes), "sizes_px": sizes})
    all_sizes = [size for row in with_faces for size in row["sizes_px"]]
    personal = []
    by_kind: dict[str, list[str]] = {}
    for i, key in enumerate(keys):
        names = [n for n in str(table["personal_metadata"][i]).split("; ") if n]
        if names:
            personal.append({"image": key, "fields": names})
            for kind in metadata_kinds(str(table["personal_metadata"][i])):
                by_kind.setdefault(kind, []).append(key)
    do_not_train = [
        {
            "image": key,
            "signer": str(table["training_signer"][i]),
            "uses": str(table["training_uses"][i]),
        }
        for i, key in enumerate(keys)
        if bool(table["do_not_train"][i])
    ]
    declared = sum(1 for value in table["training_uses"] if value)
    matches = consent_matches(table, keys, banks, registry)
    scrubbed = None
    if scrub_out is not None and paths is not None:
        scrubbed = write_scrubbed(table, keys, paths, scrub_out)
    return {
        "scrubbed": scrubbed,
        "readable_images": readable,
        "faces": {
            "checked": checked,
            "detector": FACE_DETECTOR_TEXT
            if checked
            else "Not checked: install opencv-python-headless (the bias extra).",
            "images_with_faces": len(with_faces),
            "share": (len(with_faces) / readable) if readable and checked else None,
            "faces": len(all_sizes),
            "size_px": {
                "min": min(all_sizes),
                "median": statistics.median(all_sizes),
                "max": max(all_sizes),
            }
            if all_sizes
            else None,
            "images": with_faces,
        },
        "personal_metadata": {
            "images_with_fields": len(personal),
            "by_kind": {
                kind: {"text": KIND_TEXT[kind], "count": len(images), "images": images}
                for kind, images in sorted(by_kind.items())
            },
            "images": personal,
        },
        "consent": {
            "banks": list(banks),
            "match_count": len({m["image"] for m in matches}),
            "matches": matches,
        },
        "training": {
            "images_with_statement": declared,
            "do_not_train_count": len(do_not_train),
            "do_not_train": do_not_train,
        },
    }


def _names(images: list[str]) -> str:
    shown = ", ".join(images[:NAMED_IMAGES])
    more = len(images) - NAMED_IMAGES
    return shown + (f" and {more} more (all in report.json, section privacy)" if more > 0 else "")


def privacy_findings(section: dict[str, Any]) -> list[str]:
    """Sentences a reader understands alone, each with its number and its images."""
    out: list[str] = []
    readable = section["readable_images"]
    faces = section["faces"]
    if faces["images_with_faces"]:
        size = faces["size_px"]
        out.append(
            f"{faces['images_with_faces']} of {readable} readable images "
            f"({faces['share']:.1%}) show what OpenCV's face detector takes for a face "
            f"({faces['faces']} faces, {size['min']}–{size['max']} px wide, median "
            f"{size['median']:g} px); check that the people shown agreed to this use: "
            f"{_names([row['image'] for row in faces['images']])}."
        )
    personal = section["personal_metadata"]
    if personal["images_with_fields"]:
        parts = [
            f"{entry['text']} in {entry['count']} ({_names(entry['images'])})"
            for entry in personal["by_kind"].values()
        ]
        out.append(
            f"{personal['images_with_fields']} images carry personal metadata: "
            + "; ".join(parts)
            + ". `provaudit scrub` writes copies without it."
        )
    consent = section["consent"]
    if consent["matches"]:
        listed = [
            f"{m['image']} ({m['bank']}, {m['signal']} distance {m['distance']})"
            for m in consent["matches"]
        ]
        out.append(
            f"{consent['match_count']} images match a consent bank of images whose subjects "
            f"or owners withdrew consent; leave them out: {_names(listed)}."
        )
    training = section["training"]
    if training["do_not_train"]:
        listed = [f"{row['image']} (signed by {row['signer']})" for row in training["do_not_train"]]
        out.append(
            f"{training['do_not_train_count']} images were published with a signed "
            '"do not train" (AI training or generative-AI training notAllowed in an intact '
            f"C2PA manifest): {_names(listed)}."
        )
    scrubbed = section.get("scrubbed")
    if scrubbed and scrubbed["refused"]:
        listed = [row["image"] for row in scrubbed["refused"]]
        out.append(
            f"{len(listed)} images with personal metadata could not be scrubbed (only JPEG "
            f"and PNG are rewritten) and have no copy in {scrubbed['folder']}: {_names(listed)}."
        )
    return out
