"""``provaudit audit``'s local engine vs the service's in-process throughput, same images.

The baseline is ``bench/service_bench.py``'s in-process side: the ``AuditPipeline`` that
the service's own ``load_state`` builds, called from 32 threads on the images in memory.
Against it: the command's local engine as the command runs it (``service.audit.setup``'s
pipeline, ``service.audit.batch.audit_local`` on ``--workers`` threads reading the files
from disk, JSON round trip included), on the same images written to a folder. Each side
audits ``--per-round`` images a round (a count, not a time window: on a loaded 2-core
machine one audit among 32 in flight can outlast a window), the rounds alternating
(baseline first, then engine first, ...) so machine noise hits both alike. Prints
images/s for each, the ratio engine / baseline (goal >= 0.8x) and one JSON line.

``--command`` also times ``provaudit audit FOLDER --json`` as a subprocess over
``--command-files`` copies of the images: its images/s over the whole run, start-up
(imports, loading the detector and the indexes) included, is reported beside the ratio.

    nice -n 10 .venv/bin/python bench/audit_bench.py [--workers 8] [--per-round 64] [--command]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from service_bench import API_KEY, Upload, plain_jpegs, signed_generated


@dataclass
class Run:
    """One side's fixed amount of work: a count and a wall time (robust to long latencies,
    which a window of a few seconds cannot be on a loaded 2-core machine)."""

    images: int = 0
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)

    def add(self, other: Run) -> None:
        self.images += other.images
        self.seconds += other.seconds
        self.statuses.update(other.statuses)

    @property
    def rate(self) -> float:
        """Successful audits a second: a failed one (a detector timeout under overload)
        is not throughput."""
        return self.statuses[200] / self.seconds if self.seconds else 0.0


def run_in_process(pipeline: Any, uploads: list[Upload], clients: int, count: int) -> Run:
    """service_bench's in-process side, by count: ``clients`` threads calling the
    pipeline on the images in memory until ``count`` audits are done."""
    run = Run()
    lock = threading.Lock()
    tasks = iter(range(count))

    def worker() -> None:
        while True:
            with lock:
                index = next(tasks, None)
            if index is None:
                return
            upload = uploads[index % len(uploads)]
            try:
                pipeline.audit(upload.data, upload.name)
                status: int | str = 200
            except Exception as exc:  # counted, like a server error
                status = type(exc).__name__
            with lock:
                run.statuses[status] += 1

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(worker) for _ in range(clients)]:
            future.result()
    run.seconds = time.perf_counter() - start
    run.images = count
    return run


def run_engine(pipeline: Any, paths: list[str], workers: int, count: int) -> Run:
    """The command's local engine (files read from disk, JSON round trip) on ``count``
    files, the folder's paths round and round."""
    from service.audit.batch import audit_local

    run = Run()
    todo = [paths[index % len(paths)] for index in range(count)]
    start = time.perf_counter()
    for result in audit_local(pipeline, todo, workers):
        run.statuses[200 if result.error is None else result.error.code] += 1
    run.seconds = time.perf_counter() - start
    run.images = count
    return run


def write_images(folder: Path, uploads: list[Upload], copies: int = 1) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for copy in range(copies):
        for upload in uploads:
            path = folder / f"{copy:04d}-{upload.name}"
            path.write_bytes(upload.data)
            paths.append(str(path))
    return paths


def time_command(folder: Path, home: Path, files: int) -> dict[str, Any]:
    env = dict(os.environ, PROVAUDIT_HOME=str(home), PROVAUDIT_DATA_DIR=str(home / "in-process"))
    env.pop("PROVAUDIT_DETECTOR", None)
    env.pop("PROVAUDIT_DATABASE_URL", None)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "provenance", "audit", str(folder), "--json", "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    seconds = time.perf_counter() - start
    lines = done.stdout.splitlines()
    if len(lines) != files:
        raise SystemExit(
            f"the command printed {len(lines)} lines for {files} files:\n{done.stderr}"
        )
    return {
        "files": files,
        "seconds": round(seconds, 2),
        "images_per_s": round(files / seconds, 2),
        "exit_status": done.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=8, help="the engine's threads")
    parser.add_argument("--clients", type=int, default=32, help="baseline threads")
    parser.add_argument("--per-round", type=int, default=64, help="audits per side per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per side, alternating")
    parser.add_argument("--images", type=int, default=16, help="distinct images (half signed)")
    parser.add_argument("--command", action="store_true", help="also time the command")
    parser.add_argument("--command-files", type=int, default=64, help="files for --command")
    args = parser.parse_args()

    from fastapi import FastAPI

    with tempfile.TemporaryDirectory(prefix="provaudit-audit-bench-") as folder:
        home = Path(folder)
        os.environ["PROVAUDIT_HOME"] = str(home)  # one dev identity for the images and both sides
        from provenance.keys import default_identity
        from provenance.signing import ProvenanceSigner
        from service.audit.setup import close_pipeline, open_pipeline
        from service.config import Settings
        from service.main import load_state

        identity, _created = default_identity()
        signer = ProvenanceSigner(identity)
        generated = signed_generated(args.images - args.images // 2, signer)
        signer.close()
        plain = plain_jpegs(args.images // 2)
        uploads = [item for pair in zip(generated, plain, strict=False) for item in pair]
        uploads += generated[len(plain) :]
        paths = write_images(home / "images", uploads)

        settings = Settings(data_dir=home / "in-process", api_keys=[API_KEY])
        state_app = FastAPI()
        load_state(state_app, settings)
        baseline_pipeline = state_app.state.pipeline
        engine_pipeline = open_pipeline(settings)
        totals = {"in_process": Run(), "audit_local": Run()}
        try:
            # Warm both: onnxruntime's first runs, c2pa contexts, the page cache.
            run_in_process(baseline_pipeline, uploads, args.clients, len(uploads))
            run_engine(engine_pipeline, paths, args.workers, len(uploads))
            for round_index in range(args.rounds):
                order = ("in_process", "audit_local")
                if round_index % 2:
                    order = order[::-1]
                for side in order:
                    if side == "in_process":
                        run = run_in_process(
                            baseline_pipeline, uploads, args.clients, args.per_round
                        )
                    else:
                        run = run_engine(engine_pipeline, paths, args.workers, args.per_round)
                    print(f"  round {round_index} {side}: {run.rate:.2f} images/s", flush=True)
                    totals[side].add(run)
        finally:
            close_pipeline(engine_pipeline, save=False)
            if baseline_pipeline.scorer is not None:
                baseline_pipeline.scorer.close()
            state_app.state.fingerprints.close()
            state_app.state.reports.close()
        rates = {side: round(run.rate, 2) for side, run in totals.items()}
        statuses = {
            side: {str(k): v for k, v in run.statuses.items()} for side, run in totals.items()
        }
        for side in ("in_process", "audit_local"):
            print(
                f"{side:12s} {rates[side]:7.2f} images/s  ({totals[side].images} audits in "
                f"{totals[side].seconds:.1f} s; statuses {statuses[side]})"
            )
        ratio = rates["audit_local"] / rates["in_process"] if rates["in_process"] else 0.0
        print(
            f"ratio audit local engine ({args.workers} workers) / service in-process "
            f"({args.clients} threads): {ratio:.2f}x (goal >= 0.8x)"
        )
        result: dict[str, Any] = {
            "bench": "audit_local_engine",
            "images_per_s": rates,
            "statuses": statuses,
            "ratio_audit_over_in_process": round(ratio, 3),
            "workers": args.workers,
            "clients": args.clients,
            "audits_per_side": args.per_round * args.rounds,
            "images": len(uploads),
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
        }
        if args.command:
            copies = max(1, args.command_files // len(uploads))
            folder_paths = write_images(home / "command", uploads, copies)
            command = time_command(home / "command", home, len(folder_paths))
            print(
                f"command: provaudit audit FOLDER --json over {command['files']} files: "
                f"{command['seconds']:.1f} s, {command['images_per_s']:.2f} images/s "
                "(start-up included)"
            )
            result["command"] = command
    print(json.dumps(result))


if __name__ == "__main__":
    main()
