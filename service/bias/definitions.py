"""One-line definitions of every measure, shown in the report next to its number."""

from __future__ import annotations

from service.bias.neardup import EXACT_MAX_IMAGES, LAYOUT_EXTRA_BITS, LAYOUT_MIN_CORRELATION
from service.bias.options import (
    DEFAULT_CENTRE_RADIUS,
    DEFAULT_PDQ_RADIUS,
    DEFAULT_PHASH_RADIUS,
    PDQ_MATCH_RADIUS,
    ReportOptions,
)


def definitions(options: ReportOptions) -> dict[str, str]:
    q = options.quality
    level = f"{options.confidence:.0%}"
    bits = options.hash_bits
    return {
        # 1. datasheet
        "readable": "An image file that decodes completely (format sniffed from its bytes, "
        "not its name; Pillow's decompression-bomb limit applies).",
        "content_credentials": "A C2PA manifest store embedded in the file, validated by "
        "c2pa-python; 'valid' = intact, 'invalid' = tampered or broken.",
        "declares_ai": "C2PA: an intact manifest whose actions declare the IPTC digital source "
        "type trainedAlgorithmicMedia or compositeWithTrainedAlgorithmicMedia. IPTC: the same "
        "terms in the file's XMP, which nothing binds to the pixels.",
        # 2. representation
        "share": "Images with the value / images with any value for the attribute.",
        "share_ci": f"{level} percentile-bootstrap interval of the share "
        f"({options.bootstrap} multinomial resamples of the n images).",
        "ratio_to_uniform": "Share x number of values: 1 = the share of a perfectly balanced "
        "attribute, 0.1 = a tenth of it.",
        "ratio_to_reference": "Share / the reference distribution's share for the value.",
        "imbalance_ratio": "Largest group count / smallest group count (empty groups excluded "
        "from the smallest, listed as empty cells).",
        "small_n": f"Fewer than {options.min_group_size} images: rates and shares of this group "
        "are too uncertain to compare; read the interval.",
        # 3. quality
        "exact_duplicate": "Images whose decoded RGB pixels are identical (SHA-256 of width, "
        "height and pixels), whatever their file format or metadata.",
        "near_duplicate": (
            f"Images whose {options.near_dup_hash.upper()} hashes differ in at most "
            if options.near_dup_hash != "phash-centre"
            else "Images one of whose two pHashes (of the whole picture and of its central 95 %, "
            "so that trimmed copies match) differs from one of the other's in at most "
        )
        + f"{options.radius} of {bits} bits"
        + (
            f", or in at most {options.radius + LAYOUT_EXTRA_BITS} when the two pictures' coarse "
            "layouts (8 x 8 grid of mean brightness) correlate at "
            f"{LAYOUT_MIN_CORRELATION:g} or more"
            if options.near_dup_hash == "phash-centre"
            else ""
        )
        + ", joined transitively into clusters; found by an exact FAISS multi-index hash search "
        "(every such pair, without comparing all pairs)"
        + (
            f" or, above {EXACT_MAX_IMAGES:,} images, a blocked search on parts of the hash."
            if options.near_dup_hash == "phash-centre"
            else "."
        )
        + (
            " PDQ hashes of quality below 50 (near-featureless images) are not matched, as PDQ's "
            "authors advise."
            if options.near_dup_hash == "pdq"
            else ""
        ),
        "near_duplicate_radius": _radius_note(options),
        "leakage": "An image with an exact or near copy in another split that is kept before it "
        "(earlier split, then larger, then first by name); each such image is listed once, beside "
        "the best-ranked of those copies.",
        "luma": "Rec. 601 luma 0.299 R + 0.587 G + 0.114 B, scaled to 0-1, on the image "
        "shrunk to at most 512 px on its longest side.",
        "dark": f"Mean luma below {q.dark_below:g}.",
        "over_bright": f"Mean luma above {q.bright_above:g}.",
        "blurry": f"Sharpness below {q.blurry_below:g}: variance of the 4-neighbour Laplacian of "
        "the luma after stretching its 1st-99th percentile range to 0-255 (so dark but sharp "
        "images are not called blurry; a flat image scores 0).",
        "low_information": f"Shannon entropy of the 256-level luma histogram below "
        f"{q.low_information_below:g} bits (a flat or nearly flat image).",
        # 4. detector
        "selection_rate": "Share of the group's images the detector flags as AI "
        "(fairlearn selection_rate, positive class = generated).",
        "false_positive_rate": "Share of the group's real images flagged as AI "
        "(fairlearn false_positive_rate).",
        "true_positive_rate": "Share of the group's generated images flagged as AI "
        "(fairlearn true_positive_rate).",
        "demographic_parity_difference": "Largest minus smallest group selection rate "
        "(fairlearn demographic_parity_difference; 0 = parity).",
        "demographic_parity_ratio": "Smallest over largest group selection rate "
        "(fairlearn demographic_parity_ratio; 1 = parity; 0.8 is the four-fifths rule).",
        "equalized_odds_difference": "The larger of the between-group differences in "
        "true-positive and false-positive rate (fairlearn equalized_odds_difference), over "
        "groups with both real and generated images.",
        "false_positive_rate_ratio": "Smallest over largest group false-positive rate "
        "(AIF360-style ratio; 1 = equal).",
        "fairness_ci": f"{level} percentile-bootstrap intervals from fairlearn's MetricFrame "
        f"({options.bootstrap} resamples of the images, seed {options.seed}).",
        "score_histogram": "Count of images per bin of the detector's calibrated p(AI), per "
        "group, real and generated apart.",
        # 5. generator bias
        "total_variation": "Half the sum over values of |output share - training share|: "
        "0 = the same mix, 1 = no overlap.",
        "chi2": "Chi-square test of homogeneity on the 2 x k table of output and training "
        "counts (scipy chi2_contingency, no continuity correction); a small p-value means the "
        "mixes differ beyond sampling noise. Unreliable when an expected count is below 5.",
        "attribute_classifier": "Where generated images carry no value, a logistic regression "
        "on colour-layout and texture features, trained on labelled real images, assigns one; "
        "its hold-out accuracy bounds how far those counts can be trusted.",
        # 6. mitigation
        "reweighting": "Weight per image of group g = target share(g) x N / n(g), so each group "
        "carries its target share of the total weight (uniform target: 1 / number of groups).",
        "drop": "Of each duplicate set one copy is kept (earliest split, then largest, then "
        "first by name); the others are listed, and for leakage the copy in the later split.",
    }


def _radius_note(options: ReportOptions) -> str:
    if options.near_dup_hash == "phash-centre":
        used = f"This report uses {options.radius}. "
        if options.radius == DEFAULT_CENTRE_RADIUS:
            used = ""
        return (
            f"{used}The default, {DEFAULT_CENTRE_RADIUS} bits of either pHash, finds JPEG "
            "re-encodings (q50-q90), 0.5-0.9x resizes, brightness changes of 10 % and 5 % "
            "crops of images from 32 to 4,000 px, where PDQ at 15 bits misses most copies of "
            "small images and every crop; docs/bias.md has the table measured by "
            f"bench/neardup_engine.py. Above {EXACT_MAX_IMAGES:,} images a blocked search "
            "runs (five 22-bit keys of each pHash, probed with two flipped bits, then the "
            "whole codes checked): not exact, on that bench it kept at least 96 % of the "
            "copies of every edit and size (the report's search block says which ran). "
            "--near-dup-hash pdq or phash selects a single hash."
        )
    if options.near_dup_hash == "phash":
        return (
            f"This report uses {options.radius} bits of pHash. The default, "
            f"{DEFAULT_PHASH_RADIUS}, is the largest radius whose exact search stays linear in "
            "the number of images; on real photos it keeps 80-94 % of JPEG q50-q80, resized "
            "and brightened copies and 3-9 % of 5 % crops. 8 bits keeps 94-100 % of the former, "
            "but two distinct images were already 8 bits apart (bench/neardup_thresholds.py)."
        )
    used = "" if options.radius == DEFAULT_PDQ_RADIUS else f"This report uses {options.radius}. "
    return (
        f"{used}The default PDQ radius, {DEFAULT_PDQ_RADIUS}, is meant for deduplicating a "
        "dataset: the largest radius whose exact search grows linearly with the number of "
        "images. On real photos it keeps JPEG re-encodings (q80 all, q50 95 %) and brightness "
        "changes, but only about 40 % of copies resized to 0.5-0.75x (median distance 16-17 "
        f"bits). PDQ's matching threshold, {PDQ_MATCH_RADIUS}, is meant for looking one upload "
        "up in a bank: it keeps over 90 % of those resized copies too and is allowed here "
        "(--near-dup-threshold 31), at a cost that grows with the square of the number of "
        "images. 5 % crops move PDQ 44-138 bits: global hashes do not find them at any radius "
        "(bench/neardup_thresholds.py)."
    )


SKIN_TONE_NOTE = (
    "No colour-based skin-tone estimate is offered. Attribute values come from the attributes "
    "file or folder names you supply; the only values inferred from pixels are those the "
    "attribute classifier assigns to unlabelled generated images (section 5), marked as such "
    "next to its hold-out accuracy."
)
