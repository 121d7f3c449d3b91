"""A real-photo corpus with provenance of its own, built from Debian packages.

The six built-in photos (:mod:`generators.realphotos`) are too few to train or evaluate a
real-vs-AI detector on, and the machines this project installs on reach package registries
only. Debian's archive is such a registry, and it ships real photographs inside some of its
packages (desktop wallpapers, educational software, test data). Every package there is
signed and versioned, and carries a copyright file (``/usr/share/doc/PKG/copyright``) that
states who owns its files and under which licence; so every image of the corpus can name
its package, version and licence, and anyone can fetch that version again (the archive's
snapshot service keeps every version ever published).

Each :class:`CorpusSource` is one package, or one coherent part of it, chosen by looking at
the images: the globs name only files that are photographs (for ``kind="photo"``) or
human-made drawings and digital art (``kind="artwork"``). Packages mix the two (Scratch's
backgrounds, GCompris's activities), so a source lists paths rather than trusting a
folder. ``apt-get download`` fetches a package and ``dpkg -x`` unpacks it into a cache;
nothing is installed. GCompris keeps its images inside Qt resource bundles (``.rcc``),
which :func:`rcc_members` reads, so a path may continue inside a bundle
(``usr/share/gcompris-qt/rcc/erase.rcc/gcompris/src/...``).

Every image is copied with its original bytes (a detector must see the codec the camera or
the packager chose, not ours) under ``<out>/<kind>/<source>/``, beside an
``ATTRIBUTION.txt`` holding the package's copyright file; ``<out>/corpus.jsonl`` lists
them. Images are left out when they are too small, essentially grey (an RGB detector would
learn "grey means real", as :mod:`generators.realphotos` explains), undecodable, or a byte
copy of one already taken.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
import struct
import subprocess
import tempfile
import time
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np

from provenance.errors import DataError

Kind = Literal["photo", "artwork"]

MANIFEST_FILE = "corpus.jsonl"
ATTRIBUTION_FILE = "ATTRIBUTION.txt"
PACKAGE_INFO_FILE = "package.json"
DEFAULT_CACHE_DIR = Path("build/deb-cache")
DEFAULT_MIN_SIDE = 128

# A pixel's chroma is its largest channel minus its smallest. A photo whose 99th-percentile
# chroma stays under this (of 255) is grey to the eye: black-and-white photos stored as RGB,
# line art, and JPEGs whose only colour is chroma noise. The percentile, not the maximum,
# so that a few noisy or coloured pixels do not make a grey image count as colour.
GREY_TOLERANCE = 12
GREY_PERCENTILE = 99
# The grey test runs on a copy reduced to about this many pixels on its long side.
GREY_TEST_SIDE = 512

# What the corpus copies: the formats a detector meets on the web. GIF and TIFF files in
# packages are icons, animations and scans, not camera photographs.
CORPUS_FORMATS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp"}

# Never used, never evaluated on: these packages are held back for independent checks of
# detectors trained on this corpus. Matching is by name and by prefix (``NAME-*``), because
# lomiri-wallpapers comes in versioned variants (lomiri-wallpapers-20.04, ...).
EXCLUDED_PACKAGES: tuple[str, ...] = (
    "mate-backgrounds",
    "lomiri-wallpapers",
    "ukui-wallpapers",
    "gnome-backgrounds",
)
EXCLUDED_REASON = "held back for independent checks"

# A member of a Qt resource bundle larger than this is refused rather than inflated.
_MAX_BUNDLE_MEMBER = 256 << 20


@dataclass(frozen=True)
class CorpusSource:
    """Where one part of the corpus comes from.

    ``globs``, ``exclude`` and ``credits`` are ``fnmatch`` patterns over a file's path
    inside the package, relative to its root (``usr/share/...``); ``*`` also crosses ``/``.
    ``bundles`` names Qt resource bundles inside the package whose members the patterns may
    name as ``<bundle path>/<member path>``. ``credits`` are the upstream files that credit
    each image (READMEs, wallpaper metadata); they are appended to ``ATTRIBUTION.txt``,
    unpacked first when gzipped (``*.gz``, as Debian ships larger docs).
    ``package`` is None only for the built-in photos, which come from Python wheels.
    """

    name: str
    package: str | None
    globs: tuple[str, ...]
    kind: Kind
    licence: str
    note: str = ""
    exclude: tuple[str, ...] = ()
    bundles: tuple[str, ...] = ()
    credits: tuple[str, ...] = ()


@dataclass(frozen=True)
class CorpusImage:
    """One line of ``corpus.jsonl``."""

    path: str
    source: str
    kind: Kind
    package: str
    version: str
    licence: str
    sha256: str
    width: int
    height: int
    origin: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "source": self.source,
            "kind": self.kind,
            "package": self.package,
            "version": self.version,
            "licence": self.licence,
            "sha256": self.sha256,
            "width": self.width,
            "height": self.height,
            "origin": self.origin,
        }


@dataclass
class SourceSummary:
    name: str
    kind: Kind
    package: str
    version: str
    licence: str
    images: list[CorpusImage] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    deb_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "package": self.package,
            "version": self.version,
            "licence": self.licence,
            "images": len(self.images),
            "skipped": dict(sorted(self.skipped.items())),
            "deb_bytes": self.deb_bytes,
        }


@dataclass
class CorpusSummary:
    out_dir: Path
    manifest: Path
    sources: list[SourceSummary]
    seconds: float

    @property
    def images(self) -> int:
        return sum(len(source.images) for source in self.sources)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out_dir),
            "manifest": str(self.manifest),
            "images": self.images,
            "photos": sum(len(s.images) for s in self.sources if s.kind == "photo"),
            "artwork": sum(len(s.images) for s in self.sources if s.kind == "artwork"),
            # Several sources can share one package; it is downloaded once.
            "deb_bytes": sum({s.package: s.deb_bytes for s in self.sources}.values()),
            "seconds": round(self.seconds, 1),
            "sources": [source.to_dict() for source in self.sources],
        }


def _under(prefix: str, names: Sequence[str]) -> tuple[str, ...]:
    return tuple(f"{prefix}/{name}" for name in names)


_GCOMPRIS_RCC = "usr/share/gcompris-qt/rcc"


def _gcompris(activity: str, *members: str) -> tuple[str, ...]:
    """Paths inside the bundle of a GCompris activity (``<activity>.rcc``)."""
    base = f"{_GCOMPRIS_RCC}/{activity}.rcc/gcompris/src/activities/{activity}/resource"
    return tuple(f"{base}/{member}" for member in members)


_PLASMA = "usr/share/wallpapers"
# Each Plasma wallpaper ships at many resolutions, all scaled from one picture; the corpus
# takes the largest only, because the smaller ones are resamplings (and near-duplicates).
_PLASMA_PHOTOS = (
    "BytheWater",
    "ColdRipple",
    "ColorfulCups",
    "DarkestHour",
    "EveningGlow",
    "FallenLeaf",
    "Grey",
    "Kite",
    "OneStandsOut",
    "Path",
    "summer_1am",
)
_PLASMA_ARTWORK = (
    "Altai/contents/images/5120x2880.png",
    "Autumn/contents/images/2560x1600.jpg",
    "Canopee/contents/images/3840x2160.png",
    "Cascade/contents/images/3840x2160.png",
    "Cluster/contents/images/3840x2160.png",
    "Elarun/contents/images/2560x1600.png",
    "Flow/contents/images/5120x2880.jpg",
    "FlyingKonqui/contents/images/2560x1600.png",
    "Honeywave/contents/images/5120x2880.jpg",
    "IceCold/contents/images/5120x2880.png",
    "Kay/contents/images/5120x2880.png",
    "Kokkini/contents/images/3840x2160.png",
    "MilkyWay/contents/images/5120x2880.png",
    "Opal/contents/images/3840x2160.png",
    "PastelHills/contents/images/3200x2000.jpg",
    "Patak/contents/images/5120x2880.png",
    "SafeLanding/contents/images/5120x2880.jpg",
    "Shell/contents/images/5120x2880.jpg",
    "Volna/contents/images/5120x2880.jpg",
)
_SCRATCH = "usr/share/scratch/Media"
# Scratch's backgrounds mix photographs with drawings; these are the drawings (and one
# photograph of graffiti so blurred and tinted that it is neither).
_SCRATCH_DRAWN = (
    "Backgrounds/Indoors/party-room.jpg",
    "Backgrounds/Indoors/room1.jpg",
    "Backgrounds/Indoors/room2.jpg",
    "Backgrounds/Indoors/room3.jpg",
    "Backgrounds/Indoors/spotlight-stage.jpg",
    "Backgrounds/Nature/woods-and-bench.jpg",
    "Backgrounds/Outdoors/brick-wall1.jpg",
    "Backgrounds/Outdoors/school2.jpg",
    "Backgrounds/Sports/basketball-court2.png",
)
_SCRATCH_NEITHER = ("Backgrounds/Outdoors/graffiti.jpg",)
_LXQT = "usr/share/lxqt/wallpapers"
_CATEGORIZATION = ("fishes", "others", "renewable", "tools")
# GCompris's "details" activity: photos of monuments and paintings by Van Gogh, each as one
# background (the small *_N.webp are crops of it, for the game, and too small anyway).
_DETAILS_PHOTOS = (
    "Chenonceau",
    "EgeskovSlotSpejling",
    "EilanDonanCastle",
    "FanoeWindmill",
    "GizahPyramids",
    "Louvre_2007_02_24_c",
    "NDP",
    "Nagoya",
    "Neuschwanstein",
    "OperaSidney",
    "TajMahal",
    "TourEiffel",
    "TowerBridgeLondon",
)
_DETAILS_PAINTINGS = (
    "Eglise_dAuvers-sur-Oise",
    "Gogh4",
    "PortraitOfPereTanguy",
    "Van_Gogh_The_Night_Cafe",
    "VincentVanGogh0012",
    "VincentVanGogh0013",
    "VincentVanGogh0019",
    "VincentVanGoghBridge",
)
# Louis Braille's activity: photos of his house, statue and braille in use (his portrait,
# a painting, and the staged fireplace scene are left out).
_BRAILLE_PHOTOS = ("braille", "rnib", "statue", "teach", "workshop")
_OPENCV = "usr/share/doc/opencv-doc/examples"
# OpenCV's sample images that are camera photographs. Left out: drawings, logos, renders
# (Blender_Suzanne*, HappyFish, the logos, pic*), the calibration and stereo pairs in grey
# (left*/right*, basketball*, box*), images degraded on purpose (ela_modified is a
# splice, licenseplate_motion and text_* are synthetically blurred), starry_night (a
# painting), reg/home.png (a crop of data/home.jpg) and fuzzy/input.png (a drawing).
_OPENCV_PHOTOS = (
    "data/aero1.jpg",
    "data/aero3.jpg",
    "data/aloeL.jpg",
    "data/aloeR.jpg",
    "data/apple.jpg",
    "data/baboon.jpg",
    "data/board.jpg",
    "data/building.jpg",
    "data/butterfly.jpg",
    "data/chicky_512.png",
    "data/ela_original.jpg",
    "data/fruits.jpg",
    "data/graf1.png",
    "data/graf3.png",
    "data/home.jpg",
    "data/leuvenA.jpg",
    "data/leuvenB.jpg",
    "data/messi5.jpg",
    "data/orange.jpg",
    "data/rubberwhale1.png",
    "data/rubberwhale2.png",
    "data/smarties.png",
    "data/squirrel_cls.jpg",
    "data/stuff.jpg",
    "data/sudoku.png",
    "text/scenetext0*.jpg",
    "text/scenetext_segmented_word0?.jpg",
    "text/scenetext_word0?.jpg",
    "hfs/data/*.jpg",
    "alphamat/input_images/plant.jpg",
    "dnn_superres/butterfly.png",
)
_PYSIOGAME = "usr/share/games/pysiogame/res/images"
# GCompris's vocabulary pictures (gcompris-words) are Art4Apps drawings too: these are
# the same drawings in pysiogame (matched by name and by a difference hash of the
# pixels), left out there so that no drawing sits in two sources.
_ART4APPS_IN_GCOMPRIS = (
    "animals/bear.jpg",
    "animals/bee.jpg",
    "animals/beetle.jpg",
    "animals/bird.jpg",
    "animals/bull.jpg",
    "animals/camel.jpg",
    "animals/cat.jpg",
    "animals/chicken.jpg",
    "animals/cow.jpg",
    "animals/dog.jpg",
    "animals/dolphin.jpg",
    "animals/duck.jpg",
    "animals/fox.jpg",
    "animals/frog.jpg",
    "animals/giraffe.jpg",
    "animals/gorilla.jpg",
    "animals/hedgehog.jpg",
    "animals/hippopotamus.jpg",
    "animals/horse.jpg",
    "animals/kangaroo.jpg",
    "animals/lizard.jpg",
    "animals/mosquito.jpg",
    "animals/mouse.jpg",
    "animals/owl.jpg",
    "animals/panda.jpg",
    "animals/pig.jpg",
    "animals/rabbit.jpg",
    "animals/rhinoceros.jpg",
    "animals/shark.jpg",
    "animals/sheep.jpg",
    "animals/snail.jpg",
    "animals/snake.jpg",
    "animals/spider.jpg",
    "animals/turkey.jpg",
    "animals/turtle.jpg",
    "animals/whale.jpg",
    "animals/wolf.jpg",
    "body/arm.jpg",
    "body/back.jpg",
    "body/ear.jpg",
    "body/eye.jpg",
    "body/face.jpg",
    "body/finger.jpg",
    "body/foot.jpg",
    "body/hair.jpg",
    "body/hand.jpg",
    "body/knee.jpg",
    "body/leg.jpg",
    "body/mouth.jpg",
    "body/neck.jpg",
    "body/nose.jpg",
    "body/teeth.jpg",
    "body/thumb.jpg",
    "food/coconut.jpg",
    "fruit_n_veg/apple.jpg",
    "fruit_n_veg/apricot.jpg",
    "fruit_n_veg/kiwi.jpg",
    "fruit_n_veg/lemon.jpg",
    "fruit_n_veg/melon.jpg",
    "fruit_n_veg/orange.jpg",
    "fruit_n_veg/peach.jpg",
    "fruit_n_veg/pear.jpg",
    "fruit_n_veg/plums.jpg",
    "fruit_n_veg/raspberry.jpg",
    "fruit_n_veg/strawberry.jpg",
    "people/boy.jpg",
    "people/child.jpg",
    "people/dad.jpg",
    "people/family.jpg",
    "people/friends.jpg",
    "people/girl.jpg",
    "people/grandmother.jpg",
    "people/lad.jpg",
    "people/man.jpg",
    "people/mom.jpg",
    "people/mother.jpg",
    "people/sisters.jpg",
    "people/son.jpg",
    "people/woman.jpg",
)

BUILTIN = CorpusSource(
    name="builtin",
    package=None,
    globs=("*.png", "*.jpg"),
    kind="photo",
    licence="public domain, CC0 or CC BY 2.0 (per photo, see ATTRIBUTION.txt)",
    note="the six photos of generators/realphotos.py, from the scikit-image and "
    "scikit-learn wheels",
)

CORPUS_SOURCES: tuple[CorpusSource, ...] = (
    BUILTIN,
    CorpusSource(
        name="scratch-backgrounds",
        package="scratch",
        globs=(f"{_SCRATCH}/Backgrounds/*.jpg",),
        exclude=_under(_SCRATCH, _SCRATCH_DRAWN + _SCRATCH_NEITHER),
        kind="photo",
        licence="CC-BY-SA-3.0 (MIT Scratch media)",
        note="480x360 stage backgrounds: streets, buildings, nature, sports grounds",
    ),
    CorpusSource(
        name="plasma-wallpapers",
        package="plasma-workspace-wallpapers",
        globs=_under(_PLASMA, [f"{name}/contents/images/2560x1600.jpg" for name in _PLASMA_PHOTOS]),
        credits=_under(_PLASMA, [f"{name}/metadata.json" for name in _PLASMA_PHOTOS]),
        kind="photo",
        licence="GPL-2+ (Debian copyright); LGPL-3 per wallpaper metadata",
        note="KDE Plasma photo wallpapers, the largest (2560x1600) rendition of each",
    ),
    CorpusSource(
        name="lxqt-wallpapers",
        package="lxqt-themes",
        globs=_under(
            _LXQT,
            (
                "Butterfly-Kenneth-Wimer.jpg",
                "Valendas.png",
                "after-the-rain.jpg",
                "appleflower.png",
                "beam.png",
                "butterfly.png",
                "cloud.png",
                "drop.png",
                "flowers.png",
                "fog.jpg",
                "this-is-not-windows.jpg",
            ),
        ),
        credits=(f"{_LXQT}/License",),
        kind="photo",
        licence="CC-BY-SA-3.0 (wallpapers/License); LGPL-2.1+ (Debian copyright)",
        note="LXQt photo wallpapers: landscapes, skies, flowers, insects (up to 3000 px)",
    ),
    CorpusSource(
        name="tuxpaint-templates",
        package="tuxpaint-data",
        globs=("usr/share/tuxpaint/templates/*.jpg",),
        kind="photo",
        licence="GPL-2+",
        note="Tux Paint's photo templates: bark, rocks, sea, trees, animals (160-360 px)",
    ),
    CorpusSource(
        name="palapeli-puzzles",
        package="palapeli-data",
        globs=("usr/share/palapeli/collection/*.jpg",),
        credits=("usr/share/palapeli/collection/*.desktop",),
        kind="photo",
        licence="GPL-2+ (Debian copyright); GFDL or public domain per puzzle",
        note="the photos of Palapeli's default jigsaw puzzles",
    ),
    CorpusSource(
        name="jxl-testdata",
        package="libjxl-testdata",
        globs=(
            "usr/share/libjxl-testdata/external/wesaturate/500px/*_srgb8.png",
            "usr/share/libjxl-testdata/jxl/flower/flower.png",
        ),
        credits=("usr/share/libjxl-testdata/external/wesaturate/README.md",),
        kind="photo",
        licence="CC0-1.0 (wesaturate); BSD-3-clause (flower, JPEG XL project)",
        note="lossless PNG photos of the JPEG XL test suite; the 64 px crops are left out",
    ),
    CorpusSource(
        name="gcompris-animals",
        package="gcompris-qt-data",
        bundles=tuple(
            f"{_GCOMPRIS_RCC}/{activity}.rcc"
            for activity in ("erase", "explore_world_animals", "explore_farm_animals")
        ),
        globs=_gcompris("erase", "*.webp")
        + _gcompris("explore_world_animals", "animals/*.webp")
        + _gcompris("explore_farm_animals", "animals/*.webp"),
        credits=_gcompris("erase", "README")
        + _gcompris("explore_world_animals", "animals/README")
        + _gcompris("explore_farm_animals", "animals/README"),
        kind="photo",
        licence="CC-BY-SA-4.0, CC-BY-2.0, CC0 or public domain (per image, see credits)",
        note="Wikimedia Commons animal photos, cropped, sharpened and re-encoded as WebP by "
        "GCompris (1024-1920 px)",
    ),
    CorpusSource(
        name="gcompris-monuments",
        package="gcompris-qt-data",
        bundles=(f"{_GCOMPRIS_RCC}/explore_monuments.rcc",),
        globs=_gcompris("explore_monuments", "*/*.webp"),
        credits=_gcompris("explore_monuments", "README"),
        kind="photo",
        licence="CC-BY-SA, CC-BY, CC0 or public domain (per image, see credits)",
        note="Wikimedia Commons photos of monuments, re-encoded as WebP by GCompris (1024 px)",
    ),
    CorpusSource(
        name="gcompris-objects",
        package="gcompris-qt-data",
        bundles=(f"{_GCOMPRIS_RCC}/categorization.rcc",),
        globs=_gcompris("categorization", *(f"images/{name}/*.webp" for name in _CATEGORIZATION)),
        credits=_gcompris("categorization", *(f"images/{name}/README" for name in _CATEGORIZATION)),
        kind="photo",
        licence="public domain, CC0 or GPL-2+ (per image, see credits)",
        note="photos of fish, tools, household objects and power plants, re-encoded as WebP "
        "by GCompris (320 px)",
    ),
    CorpusSource(
        name="gcompris-scenes",
        package="gcompris-qt-data",
        bundles=tuple(
            f"{_GCOMPRIS_RCC}/{activity}.rcc"
            for activity in (
                "details",
                "explore_world_music",
                "categorization",
                "clickgame",
                "louis-braille",
            )
        ),
        globs=_gcompris("details", *(f"image/{name}_background.webp" for name in _DETAILS_PHOTOS))
        + _gcompris("explore_world_music", "music/*.webp")
        + _gcompris(
            "categorization",
            "images/monuments/*.webp",
            "images/alphabets/alphabets.webp",
            "images/numbers/numbers.webp",
        )
        + _gcompris("clickgame", "sea*.webp")
        + _gcompris("louis-braille", *(f"{name}.webp" for name in _BRAILLE_PHOTOS)),
        # The same photos as explore_monuments's (gcompris-monuments), re-cropped.
        exclude=_gcompris(
            "categorization",
            *(
                f"images/monuments/{name}.webp"
                for name in ("brandenburgGate", "colosseum", "greatPyramid")
            ),
        ),
        credits=_gcompris("details", "image/README")
        + _gcompris("explore_world_music", "music/README")
        + _gcompris(
            "categorization",
            "images/monuments/README",
            "images/alphabets/README",
            "images/numbers/README",
        )
        + _gcompris("clickgame", "README")
        + _gcompris("louis-braille", "README"),
        kind="photo",
        licence="CC-BY-SA, CC-BY, CC0, GPL-3 or public domain (per image, see credits)",
        note="photos of landmarks, musicians, underwater scenes, toy blocks and Louis "
        "Braille's places, from Wikimedia Commons and GCompris's authors, re-encoded as WebP "
        "by GCompris (200-1024 px)",
    ),
    CorpusSource(
        name="opencv-samples",
        package="opencv-doc",
        globs=_under(_OPENCV, _OPENCV_PHOTOS),
        kind="photo",
        licence="Apache-2.0 (Debian copyright, Files: *; OpenCV sample data)",
        note="OpenCV's sample photographs: classic test images (baboon, fruits), aerial "
        "views, stereo and optical-flow scenes, street signs (256-1282 px)",
    ),
    CorpusSource(
        name="skimage-extras",
        package="python3-skimage",
        globs=_under(
            "usr/lib/python3/dist-packages/skimage/data",
            (
                "hubble_deep_field.jpg",
                "ihc.png",
                "motorcycle_left.png",
                "motorcycle_right.png",
                "retina.jpg",
            ),
        ),
        # Each image's docstring there names its source and licence.
        credits=("usr/lib/python3/dist-packages/skimage/data/_fetchers.py",),
        kind="photo",
        licence="public domain (NASA), CC0-1.0 (retina), no known restrictions (IHC), "
        "Middlebury 2014 stereo benchmark (motorcycle); BSD-3-clause package",
        note="scikit-image's colour sample photos the built-in six do not take: Hubble deep "
        "field, a fundus photograph, a microscope slide, a stereo pair (512-3000 px)",
    ),
    CorpusSource(
        name="stellarium-nebulae",
        package="stellarium-data",
        globs=("usr/share/stellarium/nebulae/default/*.png",),
        credits=("usr/share/stellarium/nebulae/default/textures.json",),
        kind="photo",
        licence="free use and redistribution with credit, CC-BY-3.0 or CC-BY-SA (per "
        "image: the copyright file's credits 4.7-4.25 and textures.json)",
        note="telescope photographs of nebulae, galaxies and clusters by amateur and "
        "professional observatories, stretched and faded to black at the edges, some "
        "quantised to a palette (128-2048 px)",
    ),
    CorpusSource(
        name="gcompris-words",
        package="gcompris-qt-data",
        bundles=(f"{_GCOMPRIS_RCC}/lang.rcc",),
        globs=_gcompris("lang", "words_sample/*.webp"),
        kind="artwork",
        licence="CC-BY-SA-3.0",
        note="hand-drawn, coloured vocabulary pictures (animals, food, body parts; 600 px)",
    ),
    CorpusSource(
        name="ulcc-clipart",
        package="ulcc",
        globs=("usr/share/ulcc/dictionaries/*/images/*.png",),
        # The one photograph among the clipart: a tiger cut out of a photo.
        exclude=("usr/share/ulcc/dictionaries/different_animals/images/Tiger3Lores.png",),
        kind="artwork",
        licence="GPL-3+ or CC0-1.0 (per file, Debian copyright)",
        note="vector clipart of animals, furniture and professions, rendered to PNG",
    ),
    CorpusSource(
        name="plasma-wallpapers-art",
        package="plasma-workspace-wallpapers",
        globs=_under(_PLASMA, _PLASMA_ARTWORK),
        credits=(f"{_PLASMA}/*/metadata.json", f"{_PLASMA}/*/metadata.desktop"),
        kind="artwork",
        licence="GPL-2+ (Debian copyright); LGPL-3 or CC-BY-SA-4.0 per wallpaper metadata",
        note="KDE Plasma's digital-art wallpapers (vector, low-poly, painted), the largest "
        "rendition of each",
    ),
    CorpusSource(
        name="gcompris-paintings",
        package="gcompris-qt-data",
        bundles=(f"{_GCOMPRIS_RCC}/details.rcc",),
        globs=_gcompris(
            "details", *(f"image/{name}_background.webp" for name in _DETAILS_PAINTINGS)
        ),
        credits=_gcompris("details", "image/README"),
        kind="artwork",
        licence="public domain (paintings by Vincent van Gogh; see credits)",
        note="reproductions of paintings by Van Gogh, re-encoded as WebP by GCompris "
        "(about 500 px)",
    ),
    CorpusSource(
        name="pysiogame-art4apps",
        package="pysiogame",
        globs=(f"{_PYSIOGAME}/art4apps/*/*.jpg",),
        exclude=_under(f"{_PYSIOGAME}/art4apps", _ART4APPS_IN_GCOMPRIS),
        credits=("usr/share/doc/pysiogame/CREDITS.txt.gz",),
        kind="artwork",
        licence="CC-BY-SA (Art4Apps, per CREDITS.txt); public domain per Debian copyright",
        note="hand-drawn, coloured word pictures (animals, food, jobs, actions; 200 px JPEG)",
    ),
    CorpusSource(
        name="pysiogame-clipart",
        package="pysiogame",
        globs=(f"{_PYSIOGAME}/fc/*.jpg",),
        # fc085 is Art4Apps's lawyer (art4apps/jobs/lawyer.jpg), not clipart.
        exclude=(f"{_PYSIOGAME}/fc/fc085.jpg",),
        kind="artwork",
        licence="public domain (Open Clip Art Library and Tango, Debian copyright)",
        note="vector clipart on flash cards, rendered to JPEG (288x216)",
    ),
    CorpusSource(
        name="wesnoth-story-art",
        package="wesnoth-1.16-data",
        globs=("usr/share/games/wesnoth/1.16/data/core/images/story/*.jpg",),
        kind="artwork",
        licence="GPL-2+ (Debian copyright)",
        note="Battle for Wesnoth's digitally painted landscapes: mountains, swamps, coasts, "
        "castles (720-1300 px JPEG)",
    ),
    CorpusSource(
        name="scratch-drawings",
        package="scratch",
        globs=_under(_SCRATCH, _SCRATCH_DRAWN)
        + _under(
            _SCRATCH, ("Costumes/Animals/*.png", "Costumes/Fantasy/*.png", "Costumes/People/*.png")
        ),
        exclude=(f"{_SCRATCH}/Costumes/Animals/squirrel1.png",),
        kind="artwork",
        licence="CC-BY-SA-3.0 (MIT Scratch media)",
        note="Scratch's drawn backgrounds and character costumes",
    ),
)


def source_names() -> list[str]:
    return [source.name for source in CORPUS_SOURCES]


def is_excluded(package: str) -> bool:
    return any(package == name or package.startswith(f"{name}-") for name in EXCLUDED_PACKAGES)


def resolve_sources(names: Sequence[str | CorpusSource] | None) -> list[CorpusSource]:
    """Registry sources by name (all when None), in the order given, without repeats."""
    if names is None:
        return list(CORPUS_SOURCES)
    by_name = {source.name: source for source in CORPUS_SOURCES}
    chosen: list[CorpusSource] = []
    for item in names:
        if isinstance(item, CorpusSource):
            source = item
        elif item in by_name:
            source = by_name[item]
        else:
            raise DataError(f"Unknown corpus source {item!r}; known sources: {', '.join(by_name)}.")
        if source not in chosen:
            chosen.append(source)
    return chosen


# ---------------------------------------------------------------------------------------
# Debian packages


def _require_tool(tool: str, why: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise DataError(
            f"{tool} is not installed; building the corpus {why} needs a Debian-based system."
        )
    return path


def _run(command: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=1800, check=False
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E:")]
    return (errors or lines or ["no output"])[-1]


def extract_deb(deb: Path, dest: Path) -> Path:
    """Unpack ``deb`` into ``dest/root`` with ``dpkg -x`` (nothing is installed).

    ``dest/package.json`` records the package name, version and the archive's sha256; it
    is written last, so a cache entry without it is an interrupted extraction. Returns the
    root of the unpacked tree.
    """
    _require_tool("dpkg", "from Debian packages")
    _require_tool("dpkg-deb", "from Debian packages")
    deb = Path(deb)
    fields = _run(["dpkg-deb", "--field", str(deb), "Package", "Version", "Architecture"])
    if fields.returncode != 0:
        raise DataError(f"{deb} is not a readable Debian package ({_last_line(fields.stderr)}).")
    info: dict[str, Any] = {}
    for line in fields.stdout.splitlines():
        key, _, value = line.partition(":")
        info[key.strip().lower()] = value.strip()
    dest.mkdir(parents=True, exist_ok=True)
    root = dest / "root"
    staging = dest / "root.partial"
    for stale in (root, staging):
        if stale.exists():
            shutil.rmtree(stale)
    unpacked = _run(["dpkg", "-x", str(deb), str(staging)])
    if unpacked.returncode != 0:
        raise DataError(f"dpkg -x could not unpack {deb.name} ({_last_line(unpacked.stderr)}).")
    staging.rename(root)
    data = deb.read_bytes()
    info.update(deb=deb.name, deb_bytes=len(data), deb_sha256=hashlib.sha256(data).hexdigest())
    (dest / PACKAGE_INFO_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return root


def package_info(root: Path) -> dict[str, Any]:
    """What :func:`extract_deb` recorded about the package unpacked at ``root``."""
    path = root.parent / PACKAGE_INFO_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def fetch_package(package: str, cache_dir: Path | str = DEFAULT_CACHE_DIR) -> Path:
    """Download ``package`` from the configured apt sources and unpack it; returns its root.

    The unpacked tree stays in ``cache_dir/<package>/root``: a package already unpacked
    there is reused without asking apt again (delete it to take a newer version). apt
    checks the archive against the signed package lists, so the bytes are the ones the
    Debian archive published.
    """
    if is_excluded(package):
        raise DataError(f"The package {package} is never used for the corpus ({EXCLUDED_REASON}).")
    dest = Path(cache_dir) / package
    if (dest / PACKAGE_INFO_FILE).is_file() and (dest / "root").is_dir():
        return dest / "root"
    _require_tool("apt-get", "from Debian packages")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{package}-") as temporary:
        downloaded = _run(["apt-get", "download", package], cwd=Path(temporary))
        debs = sorted(Path(temporary).glob("*.deb"))
        if downloaded.returncode != 0 or len(debs) != 1:
            reason = _last_line(downloaded.stderr or downloaded.stdout)
            hint = " (run apt-get update?)" if "Unable to locate" in reason else ""
            raise DataError(f"apt-get could not download {package}: {reason}{hint}.")
        # The archive itself is not kept: package.json records its sha256, and the
        # unpacked tree is all the corpus reads.
        return extract_deb(debs[0], dest)


# ---------------------------------------------------------------------------------------
# Qt resource bundles


def rcc_members(data: bytes, name: str = "bundle") -> dict[str, bytes]:
    """The files of a Qt resource bundle (``.rcc``, format versions 1-3), by path.

    Layout (qtbase's rcc.cpp): a ``qres`` header with the offsets of a tree of fixed-size
    entries, of the UTF-16 names and of the data; a file entry's data is a 4-byte length
    and the bytes, zlib-compressed behind a 4-byte size when flagged so. Members compressed
    with zstd are left out (they would need a zstd decoder; Qt 5 bundles use zlib).
    """
    try:
        if data[:4] != b"qres":
            raise DataError(f"{name} is not a Qt resource bundle.")
        version, tree, payload, names = struct.unpack(">IIII", data[4:20])
        if version not in (1, 2, 3):
            raise DataError(f"{name} is a Qt resource bundle of unknown version {version}.")
        entry = 14 if version == 1 else 22

        def name_at(offset: int) -> str:
            (length,) = struct.unpack(">H", data[names + offset : names + offset + 2])
            start = names + offset + 6
            return data[start : start + 2 * length].decode("utf-16-be")

        members: dict[str, bytes] = {}
        pending = [(0, "")]
        visited = 0
        while pending:
            index, prefix = pending.pop()
            visited += 1
            if visited > len(data):
                raise DataError(f"{name} has a looping directory tree.")
            base = tree + index * entry
            name_offset, flags = struct.unpack(">IH", data[base : base + 6])
            path = f"{prefix}/{name_at(name_offset)}" if index else ""
            if flags & 2:
                count, first = struct.unpack(">II", data[base + 6 : base + 14])
                pending.extend((child, path) for child in range(first, first + count))
                continue
            (offset,) = struct.unpack(">I", data[base + 10 : base + 14])
            (size,) = struct.unpack(">I", data[payload + offset : payload + offset + 4])
            blob = data[payload + offset + 4 : payload + offset + 4 + size]
            if flags & 4:
                continue
            if flags & 1:
                inflater = zlib.decompressobj()
                blob = inflater.decompress(blob[4:], _MAX_BUNDLE_MEMBER)
                if inflater.unconsumed_tail:
                    continue
            members[path.lstrip("/")] = blob
        return members
    except (struct.error, UnicodeDecodeError, zlib.error, IndexError) as exc:
        raise DataError(f"{name} is a damaged Qt resource bundle ({exc}).") from None


# ---------------------------------------------------------------------------------------
# Collecting images


def _matches(path: str, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(path, pattern) for pattern in patterns)


def _package_files(root: Path) -> list[str]:
    """Regular files under ``root`` as sorted POSIX paths relative to it.

    Symbolic links are left out: an absolute link in a package points into the host's
    file system, not into the unpacked tree.
    """
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink()
    )


def iter_source_files(
    source: CorpusSource, root: Path, patterns: Sequence[str]
) -> Iterator[tuple[str, bytes]]:
    """``(path inside the package, bytes)`` of the files matching ``patterns``, sorted.

    Members of the source's bundles count as files under the bundle's own path.
    """
    found: list[tuple[str, bytes | None]] = []
    for relative in _package_files(root):
        if _matches(relative, patterns):
            found.append((relative, None))
        if source.bundles and _matches(relative, source.bundles):
            members = rcc_members((root / relative).read_bytes(), relative)
            found.extend(
                (f"{relative}/{member}", data)
                for member, data in members.items()
                if _matches(f"{relative}/{member}", patterns)
            )
    for relative, data in sorted(found, key=lambda item: item[0]):
        yield relative, data if data is not None else (root / relative).read_bytes()


def grey_level(pixels: np.ndarray) -> float:
    """The GREY_PERCENTILE-th percentile of per-pixel chroma (max - min channel), 0-255.

    ``pixels`` is RGB or RGBA uint8; fully transparent pixels do not count, since their
    colour is never seen.
    """
    rgb = pixels[..., :3].astype(np.int16)
    chroma = rgb.max(axis=-1) - rgb.min(axis=-1)
    if pixels.shape[-1] == 4:
        chroma = chroma[pixels[..., 3] > 0]
    if chroma.size == 0:
        return 0.0
    return float(np.percentile(chroma, GREY_PERCENTILE))


def _inspect(data: bytes, name: str) -> tuple[str, int, int, np.ndarray] | str:
    """(format, width, height, reduced pixels) or the reason to skip the file."""
    from provenance.errors import ProvauditError
    from provenance.media import check_media, decode_image, sniff_format

    if sniff_format(data) not in CORPUS_FORMATS:
        return "not_an_image"
    try:
        media = check_media(data, name)
    except ProvauditError:
        return "undecodable"
    try:
        image = decode_image(data, name, mode="RGBA")
    except ProvauditError:
        return "undecodable"
    width, height = image.size
    factor = max(1, max(width, height) // GREY_TEST_SIDE)
    reduced = image.reduce(factor) if factor > 1 else image
    return media.format, width, height, np.asarray(reduced)


def _safe_stem(origin: str) -> str:
    stem = PurePosixPath(origin).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:60] or "image"


def _attribution(
    source: CorpusSource, package: str, version: str, root: Path, copyright_text: str | None
) -> str:
    lines = [
        f"Corpus source: {source.name} ({source.kind})",
        f"Package:       {package} {version}",
        f"Licence:       {source.licence}",
    ]
    if source.note:
        lines.append(f"About:         {source.note}")
    lines.append("")
    if copyright_text is not None:
        lines += [
            f"The package's copyright file (/usr/share/doc/{package}/copyright), verbatim:",
            "",
            copyright_text.rstrip("\n"),
            "",
        ]
    if source.credits:
        for origin, data in iter_source_files(source, root, source.credits):
            if origin.endswith(".gz"):
                # Debian compresses larger files under /usr/share/doc.
                data = gzip.decompress(data)
            lines += [
                f"--- credits: {origin} ---",
                data.decode("utf-8", "replace").rstrip("\n"),
                "",
            ]
    return "\n".join(lines) + "\n"


def collect_from_root(
    source: CorpusSource,
    root: Path,
    out_dir: Path,
    *,
    seen: set[str] | None = None,
    max_images: int | None = None,
    min_side: int = DEFAULT_MIN_SIDE,
    package: str | None = None,
    version: str | None = None,
    copyright_text: str | None = None,
) -> SourceSummary:
    """Copy the source's images from an unpacked package at ``root`` into the corpus.

    Writes ``out_dir/<kind>/<source>/<sha256 prefix>-<stem>.<ext>`` with the original
    bytes, and ``ATTRIBUTION.txt`` beside them. ``seen`` holds the sha256 of images taken
    by earlier sources (updated here), so that a byte copy is kept once. Package, version
    and copyright text default to what :func:`extract_deb` recorded and to the package's
    ``usr/share/doc/<package>/copyright``.
    """
    root = Path(root)
    seen = set() if seen is None else seen
    info = package_info(root)
    package = package or info.get("package") or source.package or source.name
    version = version or info.get("version") or "unknown"
    if copyright_text is None:
        copyright_file = root / "usr/share/doc" / package / "copyright"
        if copyright_file.is_file():
            copyright_text = copyright_file.read_text(errors="replace")
        else:
            warnings.warn(
                f"{package} has no copyright file; {source.name} is recorded without it.",
                UserWarning,
                stacklevel=2,
            )
    summary = SourceSummary(source.name, source.kind, package, version, source.licence)
    summary.deb_bytes = int(info.get("deb_bytes", 0))
    target = Path(out_dir) / source.kind / source.name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for origin, data in iter_source_files(source, root, source.globs):
        if _matches(origin, source.exclude):
            continue
        if max_images is not None and len(summary.images) >= max_images:
            summary.skipped["over_limit"] += 1
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            summary.skipped["duplicate"] += 1
            continue
        inspected = _inspect(data, origin)
        if isinstance(inspected, str):
            summary.skipped[inspected] += 1
            continue
        fmt, width, height, pixels = inspected
        if min(width, height) < min_side:
            summary.skipped["too_small"] += 1
            continue
        if grey_level(pixels) < GREY_TOLERANCE:
            summary.skipped["grey"] += 1
            continue
        seen.add(digest)
        file_name = f"{digest[:12]}-{_safe_stem(origin)}{CORPUS_FORMATS[fmt]}"
        (target / file_name).write_bytes(data)
        relative = (PurePosixPath(source.kind) / source.name / file_name).as_posix()
        summary.images.append(
            CorpusImage(
                relative,
                source.name,
                source.kind,
                package,
                version,
                source.licence,
                digest,
                width,
                height,
                origin,
            )
        )
    (target / ATTRIBUTION_FILE).write_text(
        _attribution(source, package, version, root, copyright_text)
    )
    return summary


def _collect_builtin(
    source: CorpusSource, out_dir: Path, seen: set[str], max_images: int | None, min_side: int
) -> SourceSummary:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    from generators.realphotos import attribution_text, write_photos

    with tempfile.TemporaryDirectory(prefix="provaudit-builtin-") as temporary:
        root = Path(temporary)
        photos = write_photos(root)
        versions = []
        for distribution in sorted({photo.distribution for photo in photos}):
            try:
                versions.append(f"{distribution} {distribution_version(distribution)}")
            except PackageNotFoundError:
                versions.append(distribution)
        return collect_from_root(
            source,
            root,
            out_dir,
            seen=seen,
            max_images=max_images,
            min_side=min_side,
            package="scikit-image/scikit-learn wheels",
            version="; ".join(versions),
            copyright_text=attribution_text(photos),
        )


def build_corpus(
    out_dir: Path | str,
    sources: Sequence[str | CorpusSource] | None = None,
    *,
    cache_dir: Path | str = DEFAULT_CACHE_DIR,
    max_per_source: int | None = None,
    min_side: int = DEFAULT_MIN_SIDE,
    progress: Callable[[SourceSummary], None] | None = None,
) -> CorpusSummary:
    """Fetch each source's package, copy its images and write ``corpus.jsonl``.

    Sources are processed in the order given (the registry's order by default) and files
    in sorted path order, so the same packages give the same files and the same manifest.
    Only the folders of the chosen sources are rewritten; ``corpus.jsonl`` lists those.
    """
    started = time.monotonic()
    if max_per_source is not None and max_per_source < 1:
        raise DataError("--max-per-source must be at least 1.")
    if min_side < 1:
        raise DataError("The minimum image side must be at least 1 pixel.")
    chosen = resolve_sources(sources)
    for source in chosen:
        if source.package is not None and is_excluded(source.package):
            raise DataError(
                f"The source {source.name} uses {source.package}, which is never used for "
                f"the corpus ({EXCLUDED_REASON})."
            )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    summaries: list[SourceSummary] = []
    for source in chosen:
        if source.package is None:
            try:
                summary = _collect_builtin(source, out_dir, seen, max_per_source, min_side)
            except DataError as exc:
                if sources is not None:
                    raise
                warnings.warn(f"Skipping {source.name}: {exc}", UserWarning, stacklevel=2)
                continue
        else:
            root = fetch_package(source.package, cache_dir)
            summary = collect_from_root(
                source, root, out_dir, seen=seen, max_images=max_per_source, min_side=min_side
            )
        summaries.append(summary)
        if progress is not None:
            progress(summary)
    manifest = out_dir / MANIFEST_FILE
    with manifest.open("w", encoding="utf-8") as stream:
        for summary in summaries:
            for image in summary.images:
                stream.write(json.dumps(image.to_dict(), ensure_ascii=False, sort_keys=True))
                stream.write("\n")
    return CorpusSummary(out_dir, manifest, summaries, time.monotonic() - started)
