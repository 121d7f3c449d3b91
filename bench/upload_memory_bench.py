"""Peak memory of a real ``provaudit serve`` under concurrent worst-case uploads.

Worst case: a flat PNG just under the decode budget (a few hundred KB that decode to
tens of millions of pixels), sent ``--clients`` times at once to ``/v1/audit``. The
baseline is the same server's resident memory once warm: after start-up and the same
number of concurrent audits of an ordinary 1024 px photo-sized image, which grow
onnxruntime's buffer arena to the size a full detector batch needs (it is kept for
speed, and bounded by that batch). The bench prints the peak (VmHWM) and the memory once
the uploads are answered, as ratios to the baseline, and a JSON line.

    python bench/upload_memory_bench.py [--clients 8] [--side 7000] [--slots 2]
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from service_bench import ServerProcess


def _memory_mib(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def _png(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (40, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def _ordinary_jpeg(seed: int) -> bytes:
    noise = np.random.default_rng(seed).integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--side", type=int, default=7000, help="PNG side (side² pixels).")
    parser.add_argument("--slots", type=int, default=2, help="PROVAUDIT_MAX_CONCURRENT_UPLOADS")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="provaudit-membench-"))
    server = ServerProcess(
        home,
        PROVAUDIT_MAX_CONCURRENT_UPLOADS=str(args.slots),
        PROVAUDIT_PROCESSING_TIMEOUT_S="120",
    )
    url = server.url
    try:

        def upload(data: bytes) -> int:
            response = httpx.post(f"{url}/v1/audit", files={"file": ("up", data)}, timeout=300)
            return response.status_code

        with ThreadPoolExecutor(args.clients) as pool:
            warm = list(pool.map(upload, [_ordinary_jpeg(k) for k in range(args.clients)]))
        assert warm == [200] * args.clients, warm
        time.sleep(1)
        baseline = _memory_mib(server.pid)["VmRSS"]
        big = _png(args.side)

        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            statuses = list(pool.map(upload, [big] * args.clients))
        seconds = time.perf_counter() - started
        time.sleep(2)
        after = _memory_mib(server.pid)
    finally:
        server.stop()
    result = {
        "bench": "upload_memory",
        "clients": args.clients,
        "pixels_per_upload": args.side * args.side,
        "upload_bytes": len(big),
        "slots": args.slots,
        "statuses": {str(code): statuses.count(code) for code in sorted(set(statuses))},
        "seconds": round(seconds, 1),
        "baseline_rss_mib": round(baseline, 1),
        "peak_rss_mib": round(after["VmHWM"], 1),
        "after_rss_mib": round(after["VmRSS"], 1),
        "peak_over_baseline": round(after["VmHWM"] / baseline, 2),
        "after_over_baseline": round(after["VmRSS"] / baseline, 2),
    }
    print(
        f"{args.clients} x {args.side}x{args.side} flat PNG ({len(big):,} bytes), "
        f"{args.slots} slots: peak {result['peak_rss_mib']} MiB = "
        f"{result['peak_over_baseline']}x the baseline {result['baseline_rss_mib']} MiB; "
        f"{result['after_rss_mib']} MiB after ({result['after_over_baseline']}x); "
        f"statuses {result['statuses']} in {result['seconds']} s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
