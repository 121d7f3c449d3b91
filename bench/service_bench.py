"""``/v1/audit`` on a real server vs the same AuditPipeline called in-process.

Both sides audit the same images with the same number of concurrent clients (default
32) in the same run: a real ``provaudit serve`` subprocess on a free port (uvicorn, its
own PROVAUDIT_HOME in a temporary folder, the bundled detector), driven by httpx, and the
pipeline built by the service's own ``load_state`` called from 32 threads. Windows
alternate (server, in-process, server, ...) so machine noise hits both alike. Prints
throughput and p50/p99 latency for each, the ratio server / in-process (goal >= 0.8x on
2 cores), and one JSON line.

The images: bundled generator samples (GAN, VAE, diffusion, on onnxruntime) resized to
256 px and C2PA-signed as AI generated, and plain JPEG crops (256-512 px) of the built-in
photos (synthetic photo-like images when scikit-image/scikit-learn are absent).

``--load 60`` is the soak run instead: 32 clients for 60 s against the server, one
upload in ten a broken one (truncated JPEG or text), counting status codes (there must be
no 5xx) and reading the server's RSS (/proc/<pid>/status) at the start and the end.

    nice -n 10 .venv/bin/python bench/service_bench.py [--clients 32] [--seconds 10]
    nice -n 10 .venv/bin/python bench/service_bench.py --load 60
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

API_KEY = "bench-key"


@dataclass
class Upload:
    name: str
    data: bytes
    media_type: str


@dataclass
class Window:
    """One measuring window of one side.

    Throughput counts the successful audits that finished within the window (as wrk and
    locust do), so the drain of requests still in flight at its end, whose length depends
    on the tail latency, does not dilute it; every finished request's latency counts.
    """

    seconds: float = 0.0
    ok: int = 0
    batches: int = 0
    batched_images: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)

    def record(self, status: int | str, started: float, deadline: float) -> None:
        finished = time.perf_counter()
        self.latencies.append(finished - started)
        self.statuses[status] += 1
        if status == 200 and finished <= deadline:
            self.ok += 1

    def add(self, other: Window) -> None:
        self.seconds += other.seconds
        self.ok += other.ok
        self.batches += other.batches
        self.batched_images += other.batched_images
        self.latencies += other.latencies
        self.statuses.update(other.statuses)
        self.errors.update(other.errors)
        self.error_samples += other.error_samples

    def figures(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def quantile(q: float) -> float:
            if not ordered:
                return float("nan")
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

        return {
            "requests": len(self.latencies),
            "ok": self.ok,
            "seconds": round(self.seconds, 2),
            "audits_per_s": round(self.ok / self.seconds, 2) if self.seconds else 0.0,
            "p50_ms": round(quantile(0.50), 1),
            "p99_ms": round(quantile(0.99), 1),
            "mean_detector_batch": (
                round(self.batched_images / self.batches, 2) if self.batches else None
            ),
            "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
            "errors": dict(self.errors),
        }


# --- images ------------------------------------------------------------------------------


def _encode(image: Any, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _photo_like(width: int, height: int, seed: int) -> Any:
    """Smooth gradients plus mild noise: compresses like a photo (tests' make_image)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.uniform(0, 6.28, size=3)
    channels = [
        127 + 100 * np.sin(x / (17 + 5 * i) + phase[i]) * np.cos(y / (23 + 3 * i)) for i in range(3)
    ]
    pixels = np.stack(channels, axis=-1) + rng.normal(0, 6, size=(height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def plain_jpegs(count: int) -> list[Upload]:
    """JPEG crops (256-512 px) of the built-in photos, or photo-like synthetic images."""
    from PIL import Image

    from generators.realphotos import available_photos, read_photo

    photos = [
        Image.open(io.BytesIO(read_photo(photo))).convert("RGB") for photo in available_photos()
    ]
    sizes = [(256, 256), (384, 288), (512, 384), (320, 320), (448, 336), (512, 512)]
    uploads = []
    for index in range(count):
        width, height = sizes[index % len(sizes)]
        if photos:
            photo = photos[index % len(photos)]
            scale = max(width / photo.width, height / photo.height, 1.0)
            if scale > 1.0:
                photo = photo.resize((round(photo.width * scale), round(photo.height * scale)))
            left = (index * 37) % (photo.width - width + 1)
            top = (index * 23) % (photo.height - height + 1)
            image = photo.crop((left, top, left + width, top + height))
        else:
            image = _photo_like(width, height, seed=index)
        uploads.append(
            Upload(f"photo{index}.jpg", _encode(image, "JPEG", quality=90), "image/jpeg")
        )
    return uploads


def signed_generated(count: int, signer: Any, size: int = 256) -> list[Upload]:
    """Bundled generator samples resized to ``size`` px, signed as AI generated."""
    from PIL import Image

    from generators.data import unit_to_uint8
    from generators.noise import PerImageNoise
    from generators.signing import MODEL_NAMES
    from provenance.signing import GeneratorInfo, SignRequest
    from service.generation import load_generators

    generators = load_generators(None)
    families = generators.families
    uploads = []
    for index in range(count):
        family = families[index % len(families)]
        generator = generators.get(family)
        steps = 10 if family == "diffusion" else None
        output = generator.sample(PerImageNoise([index]), "ddim", steps)
        pixels = unit_to_uint8(output.images)[0]
        image = Image.fromarray(pixels).resize((size, size), Image.Resampling.BICUBIC)
        request = SignRequest(
            title=f"{family}{index}.png",
            ai_generated=True,
            generator=GeneratorInfo(
                family=family,
                model=MODEL_NAMES.get(family),
                checkpoint_sha256=generator.info.weights_sha256,
                seed=index,
                sampler=output.sampler,
                steps=output.steps,
                extra={"resized_to": size},
            ),
        )
        data = signer.sign(_encode(image, "PNG"), request).data
        uploads.append(Upload(f"{family}{index}.png", data, "image/png"))
    return uploads


def broken_uploads(jpeg: bytes) -> list[Upload]:
    return [
        Upload("cut.jpg", jpeg[: len(jpeg) // 2], "image/jpeg"),
        Upload("notes.jpg", b"not an image at all\n" * 10, "image/jpeg"),
    ]


# --- the server --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def batch_totals(metrics_text: str | None = None) -> tuple[float, float]:
    """(images, batches) the detector has scored: from a server's /metrics, or this process."""
    names = ("provaudit_detector_batch_size_sum", "provaudit_detector_batch_size_count")
    if metrics_text is None:
        from service.metrics import REGISTRY

        values = [REGISTRY.get_sample_value(name) or 0.0 for name in names]
        return values[0], values[1]
    found = dict.fromkeys(names, 0.0)
    for line in metrics_text.splitlines():
        name, _, value = line.partition(" ")
        if name in found:
            found[name] = float(value)
    return found[names[0]], found[names[1]]


def with_batches(window_fn: Any, read_totals: Any) -> Window:
    """Run one window and add how many images per detector batch it saw."""
    images_before, batches_before = read_totals()
    window = window_fn()
    images_after, batches_after = read_totals()
    window.batched_images = images_after - images_before
    window.batches = int(batches_after - batches_before)
    return window


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class ServerProcess:
    """``provaudit serve`` in a subprocess on a free port, ready when /readyz says so."""

    def __init__(self, home: Path, **settings: str) -> None:
        """``settings``: more ``PROVAUDIT_*`` variables for this server."""
        import httpx

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "server.log"
        env = dict(
            os.environ,
            PROVAUDIT_HOME=str(home),
            PROVAUDIT_DATA_DIR=str(home),
            PROVAUDIT_API_KEYS=json.dumps([API_KEY]),
            **settings,
        )
        env.pop("PROVAUDIT_DETECTOR", None)  # the bundled one
        env.pop("PROVAUDIT_DATABASE_URL", None)  # its own SQLite file in home
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "provenance",
                "serve",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"the server did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


async def _drive_server(
    url: str, uploads: list[Upload], clients: int, seconds: float, extra: list[Upload] | None = None
) -> Window:
    """``clients`` connections posting /v1/audit back to back for ``seconds``."""
    import httpx

    window = Window()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    counter = iter(range(10**12))

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                index = next(counter)
                if extra and index % 10 == 9:
                    upload = extra[index // 10 % len(extra)]
                else:
                    upload = uploads[index % len(uploads)]
                files = {"file": (upload.name, upload.data, upload.media_type)}
                start = time.perf_counter()
                try:
                    response = await client.post("/v1/audit", files=files)
                except httpx.HTTPError as exc:
                    window.errors[type(exc).__name__] += 1
                    elapsed = time.perf_counter() - start
                    window.error_samples.append(f"{exc!r} after {elapsed:.2f} s")
                    continue
                window.record(response.status_code, start, deadline)

        await asyncio.gather(*(worker() for _ in range(clients)))
        window.seconds = seconds
    return window


def drive_server(
    url: str, uploads: list[Upload], clients: int, seconds: float, **kw: Any
) -> Window:
    return asyncio.run(_drive_server(url, uploads, clients, seconds, **kw))


def report_errors(window: Window, server: ServerProcess) -> None:
    """Transport errors are a failure of the server: show them with its log's tail."""
    if not window.errors:
        return
    print(f"transport errors: {dict(window.errors)}", file=sys.stderr)
    for sample in window.error_samples[:5]:
        print(f"  {sample}", file=sys.stderr)
    print("server log (tail):\n" + server.log_path.read_text()[-3000:], file=sys.stderr)


def drive_in_process(pipeline: Any, uploads: list[Upload], clients: int, seconds: float) -> Window:
    """The same audits from ``clients`` threads calling the pipeline directly."""
    window = Window()
    lock = threading.Lock()
    counter = iter(range(10**12))
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        while time.perf_counter() < deadline:
            with lock:
                upload = uploads[next(counter) % len(uploads)]
            start = time.perf_counter()
            try:
                pipeline.audit(upload.data, upload.name)
                status = 200
            except Exception as exc:  # counted, like a server error
                status = type(exc).__name__
            with lock:
                window.record(status, start, deadline)

    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(worker) for _ in range(clients)]:
            future.result()
    window.seconds = seconds
    return window


# --- the two modes -----------------------------------------------------------------------


def compare(args: argparse.Namespace, home: Path, uploads: list[Upload]) -> dict[str, Any]:
    import httpx
    from fastapi import FastAPI

    from service.config import Settings
    from service.main import load_state

    state_app = FastAPI()
    load_state(state_app, Settings(data_dir=home / "in-process", api_keys=[API_KEY]))
    pipeline = state_app.state.pipeline
    server = ServerProcess(home)
    totals = {"server": Window(), "in_process": Window()}
    try:
        # Warm both: onnxruntime's first runs, c2pa contexts, connection pools.
        drive_server(server.url, uploads, args.clients, args.warmup)
        drive_in_process(pipeline, uploads, args.clients, args.warmup)
        for round_index in range(args.rounds):
            order = ("server", "in_process") if round_index % 2 == 0 else ("in_process", "server")
            for side in order:
                if side == "server":
                    window = with_batches(
                        lambda: drive_server(server.url, uploads, args.clients, args.seconds),
                        lambda: batch_totals(httpx.get(f"{server.url}/metrics").text),
                    )
                else:
                    window = with_batches(
                        lambda: drive_in_process(pipeline, uploads, args.clients, args.seconds),
                        batch_totals,
                    )
                totals[side].add(window)
    finally:
        server.stop()
        if pipeline.scorer is not None:
            pipeline.scorer.close()
    report_errors(totals["server"], server)
    figures = {side: window.figures() for side, window in totals.items()}
    for side in ("server", "in_process"):
        f = figures[side]
        print(
            f"{side:10s} {f['audits_per_s']:8.1f} audits/s  p50 {f['p50_ms']:7.1f} ms  "
            f"p99 {f['p99_ms']:7.1f} ms  ({f['ok']} audits in {f['seconds']:.1f} s, "
            f"{f['mean_detector_batch']} images per detector batch)"
        )
    in_process_rate = figures["in_process"]["audits_per_s"]
    ratio = figures["server"]["audits_per_s"] / in_process_rate if in_process_rate else 0.0
    print(f"ratio server/in-process: {ratio:.2f}x (goal >= 0.8x)")
    return {"bench": "service_audit", **figures, "ratio_server_over_in_process": round(ratio, 3)}


def load_run(args: argparse.Namespace, home: Path, uploads: list[Upload]) -> dict[str, Any]:
    import httpx

    server = ServerProcess(home)
    samples: list[int] = []
    stop = threading.Event()

    def sample_rss() -> None:
        while not stop.wait(1.0):
            samples.append(rss_kib(server.pid))

    try:
        drive_server(server.url, uploads, args.clients, args.warmup)
        rss_start = rss_kib(server.pid)
        sampler = threading.Thread(target=sample_rss, daemon=True)
        sampler.start()
        broken = broken_uploads(uploads[1].data)  # a plain JPEG, cut short or replaced
        window = with_batches(
            lambda: drive_server(server.url, uploads, args.clients, args.load, extra=broken),
            lambda: batch_totals(httpx.get(f"{server.url}/metrics").text),
        )
        stop.set()
        sampler.join()
        rss_end = rss_kib(server.pid)
        still_serving = httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    finally:
        stop.set()
        server.stop()
    report_errors(window, server)
    figures = window.figures()
    server_errors = sum(count for code, count in window.statuses.items() if code >= 500)
    print(
        f"load: {args.clients} clients for {figures['seconds']:.1f} s: {figures['requests']} "
        f"requests, statuses {figures['statuses']}, transport errors {figures['errors'] or 0}"
    )
    print(
        f"      {figures['audits_per_s']:.1f} audits/s, p50 {figures['p50_ms']:.1f} ms, "
        f"p99 {figures['p99_ms']:.1f} ms; 5xx: {server_errors}"
    )
    print(
        f"      server RSS {rss_start / 1024:.1f} MiB at start, {rss_end / 1024:.1f} MiB at end "
        f"(max {max(samples, default=rss_end) / 1024:.1f} MiB; every 10 s: "
        f"{', '.join(f'{kib / 1024:.0f}' for kib in samples[9::10])} MiB)"
    )
    return {
        "bench": "service_load",
        **figures,
        "server_5xx": server_errors,
        "still_serving": still_serving,
        "rss_mib": {
            "start": round(rss_start / 1024, 1),
            "end": round(rss_end / 1024, 1),
            "max": round(max(samples, default=rss_end) / 1024, 1),
            # one sample every 10 s: growth that levels off is warm-up, not a leak
            "every_10s": [round(kib / 1024, 1) for kib in samples[9::10]],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients per side")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one window")
    parser.add_argument("--rounds", type=int, default=2, help="windows per side, alternating")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    parser.add_argument("--images", type=int, default=16, help="distinct images (half signed)")
    parser.add_argument(
        "--load", type=float, default=None, metavar="SECONDS", help="soak run of this length"
    )
    parser.add_argument(
        "--duration", type=float, default=None, help="same as --load (seconds of load)"
    )
    args = parser.parse_args()
    if args.load is None and args.duration is not None:
        args.load = args.duration

    with tempfile.TemporaryDirectory(prefix="provaudit-service-bench-") as folder:
        home = Path(folder)
        os.environ["PROVAUDIT_HOME"] = str(home)  # one dev identity for the images and both sides
        from provenance.keys import default_identity
        from provenance.signing import ProvenanceSigner

        identity, _created = default_identity()
        signer = ProvenanceSigner(identity)
        generated = signed_generated(args.images - args.images // 2, signer)
        signer.close()
        plain = plain_jpegs(args.images // 2)
        # Alternate plain and signed, so every window sees the same mix.
        uploads = [item for pair in zip(generated, plain, strict=False) for item in pair]
        uploads += generated[len(plain) :]
        if args.load is not None:
            result = load_run(args, home, uploads)
        else:
            result = compare(args, home, uploads)
    result.update(
        {
            "clients": args.clients,
            "images": len(uploads),
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
        }
    )
    print(json.dumps(result))
    if args.load is not None and (result["server_5xx"] or not result["still_serving"]):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
