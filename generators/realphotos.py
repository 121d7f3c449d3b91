"""Real photographs that ship inside library wheels: a "real" class with no network.

Demos and tests need real photos, and downloading a data set at run time is not an
option (offline CI, no surprise licences). scikit-image and scikit-learn ship a few
photographs inside their wheels; these load from the installed package with no download
(checked with scikit-image 0.26 and scikit-learn 1.9 and sockets disabled):

=================  ===============  ==========  =================================================
photo              package file     size (px)   source and licence
=================  ===============  ==========  =================================================
astronaut          skimage/data/    512x512     Eileen Collins, NASA Great Images database
                   astronaut.png                (https://flic.kr/p/r9qvLn); public domain
coffee             skimage/data/    600x400     Rachel Michetti, courtesy of Pikolo Espresso
                   coffee.png                   Bar; CC0
chelsea            skimage/data/    451x300     Chelsea the cat, Stefan van der Walt; CC0
                   chelsea.png
rocket             skimage/data/    640x427     DSCOVR launch on Falcon 9, SpaceX
                   rocket.jpg                   (flickr.com/photos/spacexphotos/16511594820);
                                                released into the public domain
china              sklearn/         640x427     danielbuechele on Flickr
                   datasets/images/             (flickr.com/photos/danielbuechele/6061409035);
                   china.jpg                    CC BY 2.0 - attribution required
flower             sklearn/         640x427     vultilion on Flickr
                   datasets/images/             (flickr.com/photos/vultilion/6056698931);
                   flower.jpg                   CC BY 2.0 - attribution required
=================  ===============  ==========  =================================================

Left out on purpose: grey-level photos (camera, coins, moon, page...), because an RGB
detector would learn "grey means real"; the scientific images (hubble_deep_field, retina,
immunohistochemistry), which are not the camera photographs a deepfake detector meets;
the Middlebury motorcycle pair, whose licence scikit-image does not state; and
skimage.data photos that need pooch downloads (eagle, lily, kidney...).

The files are read from the installed packages by path (``importlib.resources``) rather
than through ``skimage.data.astronaut()``: the original bytes are what an export records
as the C2PA parent ingredient of each crop, and it avoids importing scikit-image at all.
:func:`export_crops` writes ``ATTRIBUTION.txt`` beside the crops, as CC BY requires.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from importlib.util import find_spec
from pathlib import Path

from generators.data import ImageFolder, check_crop_size
from provenance.errors import DataError

ATTRIBUTION_FILE = "ATTRIBUTION.txt"


@dataclass(frozen=True)
class BuiltinPhoto:
    name: str
    package: str
    distribution: str
    resource: str
    title: str
    source: str
    licence: str


BUILTIN_PHOTOS: tuple[BuiltinPhoto, ...] = (
    BuiltinPhoto(
        "astronaut",
        "skimage",
        "scikit-image",
        "data/astronaut.png",
        "Eileen Collins, NASA astronaut",
        "NASA Great Images database, https://flic.kr/p/r9qvLn",
        "public domain (no known copyright restrictions)",
    ),
    BuiltinPhoto(
        "coffee",
        "skimage",
        "scikit-image",
        "data/coffee.png",
        "Coffee cup, courtesy of Pikolo Espresso Bar",
        "Rachel Michetti, via scikit-image",
        "CC0",
    ),
    BuiltinPhoto(
        "chelsea",
        "skimage",
        "scikit-image",
        "data/chelsea.png",
        "Chelsea the cat",
        "Stefan van der Walt, via scikit-image",
        "CC0",
    ),
    BuiltinPhoto(
        "rocket",
        "skimage",
        "scikit-image",
        "data/rocket.jpg",
        "Launch of DSCOVR on Falcon 9",
        "SpaceX, https://www.flickr.com/photos/spacexphotos/16511594820/",
        "public domain (released by SpaceX)",
    ),
    BuiltinPhoto(
        "china",
        "sklearn",
        "scikit-learn",
        "datasets/images/china.jpg",
        "China (temple)",
        "danielbuechele, https://www.flickr.com/photos/danielbuechele/6061409035/",
        "CC BY 2.0, https://creativecommons.org/licenses/by/2.0/",
    ),
    BuiltinPhoto(
        "flower",
        "sklearn",
        "scikit-learn",
        "datasets/images/flower.jpg",
        "Flower",
        "vultilion, https://www.flickr.com/photos/vultilion/6056698931/",
        "CC BY 2.0, https://creativecommons.org/licenses/by/2.0/",
    ),
)


def read_photo(photo: BuiltinPhoto) -> bytes | None:
    """The photo's original file bytes, or None when its package (or file) is absent.

    ``find_spec`` is checked first so that a missing scikit-image costs nothing and
    importing the package (which ``resources.files`` does) is limited to present ones.
    """
    if find_spec(photo.package) is None:
        return None
    try:
        return resources.files(photo.package).joinpath(photo.resource).read_bytes()
    except (FileNotFoundError, ModuleNotFoundError, OSError):
        return None


def available_photos() -> list[BuiltinPhoto]:
    return [photo for photo in BUILTIN_PHOTOS if read_photo(photo) is not None]


def attribution_text(photos: list[BuiltinPhoto]) -> str:
    lines = ["Real photographs used by provaudit (shipped in scikit-image / scikit-learn):", ""]
    for photo in photos:
        lines += [
            f"{photo.name}: {photo.title}",
            f"  source:  {photo.source}",
            f"  licence: {photo.licence}",
            f"  file:    {photo.distribution} {photo.package}/{photo.resource}",
            "",
        ]
    return "\n".join(lines)


def write_photos(directory: Path) -> list[BuiltinPhoto]:
    """Copy every available photo, untouched, to ``directory/<name>.<ext>``."""
    photos: list[BuiltinPhoto] = []
    directory.mkdir(parents=True, exist_ok=True)
    for photo in BUILTIN_PHOTOS:
        data = read_photo(photo)
        if data is None:
            continue
        (directory / f"{photo.name}{Path(photo.resource).suffix}").write_bytes(data)
        photos.append(photo)
    if not photos:
        raise DataError(
            "No built-in photos are available: install scikit-image or scikit-learn "
            "(pip install 'provaudit[train]')."
        )
    missing = sorted({p.distribution for p in BUILTIN_PHOTOS} - {p.distribution for p in photos})
    if missing:
        warnings.warn(
            f"Built-in photos from {', '.join(missing)} are missing (not installed); "
            f"using {len(photos)} photos.",
            UserWarning,
            stacklevel=2,
        )
    (directory / ATTRIBUTION_FILE).write_text(attribution_text(photos))
    return photos


@contextmanager
def builtin_photo_folder() -> Iterator[Path]:
    """A temporary folder holding the original photos (for :class:`ImageFolder`)."""
    with tempfile.TemporaryDirectory(prefix="provaudit-photos-") as temporary:
        directory = Path(temporary)
        write_photos(directory)
        yield directory


def export_crops(out_dir: Path | str, size: int = 32, n: int = 256, seed: int = 0) -> list[Path]:
    """``n`` random ``size`` px PNG crops of the built-in photos, spread evenly over them.

    The result is a plain image folder, usable as ``--data`` for training or as the real
    class of a detector data set; ``ATTRIBUTION.txt`` beside the crops credits the photos.
    """
    from PIL import Image

    check_crop_size(size)
    if n < 1:
        raise DataError("The number of crops must be at least 1.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with builtin_photo_folder() as photos_dir:
        folder = ImageFolder.open(photos_dir, size)
        for index, (crop, source) in enumerate(folder.crops(n, seed)):
            path = out_dir / f"{source.stem}_{index:05d}.png"
            Image.fromarray(crop).save(path)
            written.append(path)
        shutil.copyfile(photos_dir / ATTRIBUTION_FILE, out_dir / ATTRIBUTION_FILE)
    return written
