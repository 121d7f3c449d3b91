"""Faces found by the bias report's detector (``service.bias.privacy.FaceFinder``) on the
project's photos: the PDQ reference photos and the C2PA test files (``../shared``), and the
built-in real photos (scikit-image). Which of them show people is written here, from
looking at them; the detector's settings were not tuned on them.

    PYTHONPATH=$PWD python bench/privacy_faces.py

Prints one line per image and a JSON summary: images with people found, images without
people where a face was reported (false positives), and the cost: the report's per-image
stage (``BatchAnalyser``, no detector) over the same files with face detection against
without it, in this process, as a ratio.
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.bias.privacy import FaceFinder  # noqa: E402

SHARED = ROOT.parent / "shared"
# Images that show people (faces visible), by looking at every image in these folders.
WITH_PEOPLE = {"labelme-subset/q0291.jpg": 3, "builtin/astronaut": 1, "builtin/camera": 1}


def images() -> list[tuple[str, bytes]]:
    found = []
    for folder in (SHARED / "pdq-reference", SHARED / "c2pa-testfiles"):
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
                found.append((str(path.relative_to(folder)), path.read_bytes()))
    try:
        from skimage import data
    except ImportError:
        return found
    for name in ("astronaut", "camera", "coffee", "chelsea", "rocket"):
        buffer = io.BytesIO()
        Image.fromarray(getattr(data, name)()).convert("RGB").save(buffer, "PNG")
        found.append((f"builtin/{name}", buffer.getvalue()))
    return found


def main() -> None:
    finder = FaceFinder()
    if not finder.available:
        sys.exit("needs opencv-python-headless (the bias extra)")
    rows, seconds = [], 0.0
    for name, data in images():
        rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        start = time.perf_counter()
        sizes = finder.face_sizes(rgb)
        seconds += time.perf_counter() - start
        people = WITH_PEOPLE.get(name, 0)
        rows.append((name, people, sizes))
        print(f"{name:55s} people={people} faces_found={len(sizes)} sizes={sizes}")
    with_people = [row for row in rows if row[1]]
    without = [row for row in rows if not row[1]]
    summary = {
        "images": len(rows),
        "images_with_people": len(with_people),
        "images_with_people_where_a_face_was_found": sum(1 for r in with_people if r[2]),
        "faces_shown": sum(r[1] for r in with_people),
        "faces_found_in_images_with_people": sum(len(r[2]) for r in with_people),
        "images_without_people": len(without),
        "images_without_people_with_a_reported_face": sum(1 for r in without if r[2]),
        "false_faces": sum(len(r[2]) for r in without),
        "ms_per_image": round(1000 * seconds / max(1, len(rows)), 1),
    }
    summary["per_image_stage"] = stage_cost([data for _name, data in images()])
    print(json.dumps(summary))


def stage_cost(files: list[bytes], repeats: int = 2) -> dict[str, float]:
    """Seconds per image of the per-image stage with and without faces (best of runs)."""
    import tempfile

    from service.bias.images import BatchAnalyser

    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, data in enumerate(files):
            path = Path(folder) / f"{i:03d}.img"
            path.write_bytes(data)
            paths.append(str(path))
        batch = {"path": np.array(paths, dtype=object)}
        with_faces = BatchAnalyser()
        without = BatchAnalyser()
        without.faces.cascade = None
        timings = {"with_faces": [], "without_faces": []}
        for _ in range(repeats):
            for label, analyser in (("without_faces", without), ("with_faces", with_faces)):
                start = time.perf_counter()
                analyser(batch)
                timings[label].append((time.perf_counter() - start) / len(paths))
    best = {label: min(values) for label, values in timings.items()}
    return {
        "ms_per_image_with_faces": round(1000 * best["with_faces"], 1),
        "ms_per_image_without_faces": round(1000 * best["without_faces"], 1),
        "ratio": round(best["with_faces"] / best["without_faces"], 2),
    }


if __name__ == "__main__":
    main()
