"""Prometheus metrics of the service (their own registry, so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry()
REQUEST_LATENCY = Histogram(
    "provaudit_request_seconds",
    "Request latency by route.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
DETECTOR_LATENCY = Histogram(
    "provaudit_detector_seconds", "Detector inference latency per batch.", registry=REGISTRY
)
DETECTOR_BATCH = Histogram(
    "provaudit_detector_batch_size",
    "Images per detector batch.",
    buckets=(1, 2, 4, 8, 16, 32, 64),
    registry=REGISTRY,
)
VERDICTS = Counter("provaudit_verdicts_total", "Audit verdicts.", ["verdict"], registry=REGISTRY)
GENERATED_IMAGES = Counter(
    "provaudit_generated_images_total",
    "Images generated and signed by /v1/generate.",
    ["family"],
    registry=REGISTRY,
)
UPLOADS_STOPPED = Counter(
    "provaudit_uploads_stopped_total",
    "Uploads whose decoding or analysis stopped at a checkpoint after their request timed out.",
    registry=REGISTRY,
)
