"""Dataset bias reports: composition, duplicates and leakage, detector fairness, generator bias.

``provaudit bias-report`` and ``POST /v1/reports`` run the same engine:

1. :mod:`service.bias.dataset` lists the images, their attributes (sidecar CSV/JSONL or
   folder names), real/generated labels (``labels.jsonl``, ``0_real``/``1_fake``) and splits;
2. :mod:`service.bias.engine` maps every image through :mod:`service.bias.images` (decode,
   pixel digest, PDQ/pHash, quality statistics, C2PA/IPTC declarations, detector score),
   in this process or on Ray Data;
3. the section modules (:mod:`~service.bias.datasheet`, :mod:`~service.bias.representation`,
   :mod:`~service.bias.quality`, :mod:`~service.bias.fairness`,
   :mod:`~service.bias.generator_bias`, :mod:`~service.bias.mitigation`) aggregate;
4. :mod:`service.bias.report` writes ``report.json`` and a self-contained ``report.html``.

Heavy libraries (fairlearn, scikit-learn, scipy, matplotlib, jinja2, Ray) are imported
inside the functions that use them, so the service can import this package at start-up.
"""

from __future__ import annotations

from service.bias.options import BiasReportError, ReportOptions

__all__ = ["BiasReportError", "ReportOptions"]
