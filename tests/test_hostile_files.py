"""The hostile corpus (tests/hostile.py) through every upload route of a real server and
every CLI command that takes a file, each case with its one expected outcome per surface.

Invariants on top of the outcomes: never a 5xx, a JSON error on every 4xx, every request
answered within a bound and the server still healthy after it; the CLI never prints a
traceback and prints exactly one ``error:`` line on stderr per file it refuses (Pillow's
own warnings never reach stderr); no output ever carries /etc/passwd.

The CLI runs as users run it, as a subprocess. ``verify``, ``hash`` and ``detect`` take
many files, so each runs once over the whole corpus and every file's result is read from
its output; ``sign`` takes one file, so it runs once a case (``CLI_SIGN_CASES``, or every
case with HOSTILE_SIGN_ALL=1), two at a time.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from provenance.cli.exit_status import ExitStatus, worst
from service.pipeline import VERDICTS
from tests.hostile import (
    CLI_SIGN_CASES,
    HTTP_SURFACES,
    OK_STATUS,
    PASSWD_MARKERS,
    Case,
    Outcome,
    build_corpus,
    corpus,
)
from tests.servers import Server, start_server, stop_server

API_KEY = "hostile-key-789"
WRITE = {"X-API-Key": API_KEY}
REQUEST_BOUND_S = 20.0
"""No request may take longer (they take well under a second; a bomb would take minutes)."""

CASES = corpus()
SIGNED_CASES = [
    case for case in CASES if os.environ.get("HOSTILE_SIGN_ALL") or case.name in CLI_SIGN_CASES
]


def _bank(case: Case) -> str:
    return f"hostile-{case.name}"


def _assert_no_passwd(text: str, where: str) -> None:
    for marker in PASSWD_MARKERS:
        assert marker not in text, f"{where}: an XML entity was expanded ({marker!r} in output)"


# ---------------------------------------------------------------------------------------
# The server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service with its bundled detector, and one hash bank per case."""
    running = start_server(tmp_path_factory.mktemp("hostile-service"), API_KEY)
    try:
        with running.client() as client:
            for case in CASES:
                created = client.post("/v1/banks", json={"name": _bank(case)}, headers=WRITE)
                assert created.status_code == 201, created.text
        yield running
    finally:
        stop_server(running)


def _post(client: httpx.Client, surface: str, case: Case) -> httpx.Response:
    upload = {"file": (case.filename, case.data, "application/octet-stream")}
    if surface == "by_content":  # the C2PA soft-binding API takes the asset as the body
        return client.post(
            "/v1/matches/byContent",
            content=case.data,
            headers={"content-type": "application/octet-stream"},
        )
    if surface == "bank":
        return client.post(f"/v1/banks/{_bank(case)}/content", files=upload, headers=WRITE)
    if surface == "sign":
        return client.post("/v1/sign", files=upload, headers=WRITE)
    return client.post(f"/v1/{surface}", files=upload)


@pytest.mark.parametrize("surface", HTTP_SURFACES)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_upload_routes(server: Server, case: Case, surface: str) -> None:
    expected = case.expect[surface]
    with server.client() as client:
        started = time.monotonic()
        response = _post(client, surface, case)
        elapsed = time.monotonic() - started
        assert client.get("/healthz").status_code == 200, "the server keeps serving"

        assert response.status_code < 500, response.text[:500]
        assert elapsed < REQUEST_BOUND_S, f"{elapsed:.1f} s"
        _assert_no_passwd(response.text if surface != "sign" else "", surface)
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/json")
            error = response.json()["error"]
            assert error["code"] and error["message"], error
        assert response.status_code == expected.status, response.text[:500]

        if response.status_code >= 400:
            assert expected.says in response.json()["error"]["message"]
        elif surface == "audit":
            audit = response.json()
            assert audit["provenance"]["state"] == expected.state
            assert audit["verdict"] in VERDICTS
        elif surface == "verify":
            report = response.json()
            assert report["state"] == expected.state
            if case.name == "jpeg-xmp-xxe":  # the entity is read as text, never expanded
                assert report["iptc"]["digital_source_type"] == "&xxe;"
        elif surface == "hash":
            assert re.fullmatch("[0-9a-f]{64}", response.json()["pdq"])
        elif surface == "sign":  # what is signed verifies: intact, by its development signer
            signed = client.post(
                "/v1/verify", files={"file": (case.filename, response.content, "image/*")}
            )
            assert signed.status_code == 200, signed.text[:500]
            assert signed.json()["state"] == "valid", signed.json()["failures"]
            assert signed.json()["signer"]["development"] is True


def test_every_case_has_a_success_status_or_an_error_per_route() -> None:
    """Guard on the corpus itself: a success is the route's success status, never another 2xx."""
    for case in CASES:
        for surface in HTTP_SURFACES:
            status = case.expect[surface].status
            assert status >= 400 or status == OK_STATUS.get(surface, 200), (case.name, surface)


def test_the_server_logged_no_unexpected_error(server: Server) -> None:
    """Run after the routes (file order): whatever they sent, nothing reached a traceback."""
    with server.client() as client:
        assert client.get("/healthz").status_code == 200
    assert server.process.stdout is not None
    os.set_blocking(server.process.stdout.fileno(), False)
    logged = (server.process.stdout.read() or b"").decode(errors="replace")
    assert "Traceback" not in logged and "unexpected error" not in logged, logged[-3000:]
    _assert_no_passwd(logged, "server log")


# ---------------------------------------------------------------------------------------
# The CLI


@dataclass
class CliOutcome:
    """What one file got from a CLI command."""

    status: int
    """Its exit status: the process's for ``sign``; for a batch, what its own result means."""
    says: str
    """Its lines on stderr (all of stderr for ``sign``); for ``detect``, else its result."""
    state: str | None = None


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    cases: dict[str, CliOutcome]


def _cli(home: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PROVAUDIT_HOME=str(home), COLUMNS="200")
    env.pop("PROVAUDIT_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "provenance", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _error_lines(stderr: str, path: Path) -> list[str]:
    return [line for line in stderr.splitlines() if str(path) in line]


def _batch(home: Path, paths: dict[str, Path], command: str) -> CliRun:
    """One ``verify``/``hash``/``detect`` over every file; each file's own outcome."""
    files = list(paths.values())
    if command == "detect":  # text: a result line on stdout, or an error line on stderr
        done = _cli(home, "detect", "--no-progress", *files)
    else:
        done = _cli(home, command, "--json", *files)
    results = {}
    if command != "detect":
        for line in done.stdout.splitlines():
            document = json.loads(line)
            results[document["path"]] = document
    cases = {}
    for name, path in paths.items():
        errors = _error_lines(done.stderr, path)
        if command == "detect":
            found = [line for line in done.stdout.splitlines() if line.startswith(f"{path}  ")]
            assert len(found) + len(errors) == 1, (name, found, errors)
            status = ExitStatus.ERROR if errors else ExitStatus.SUCCESS
            cases[name] = CliOutcome(int(status), (errors or found)[0])
            continue
        result = results[str(path)]
        if "error" in result:
            status, state = ExitStatus.ERROR, None
        elif command == "verify":
            state = result["state"]
            status = {
                "trusted": ExitStatus.SUCCESS,
                "valid": ExitStatus.UNTRUSTED,
                "absent": ExitStatus.ABSENT,
                "invalid": ExitStatus.INVALID,
            }[state]
        else:
            status, state = ExitStatus.SUCCESS, None
        cases[name] = CliOutcome(int(status), "\n".join(errors), state)
    return CliRun(done.returncode, done.stdout, done.stderr, cases)


@dataclass
class SignRun:
    outcome: CliOutcome
    stderr: str
    output: Path


def _sign(home: Path, path: Path, out_dir: Path) -> SignRun:
    output = out_dir / f"signed-{path.name}"
    done = _cli(home, "sign", path, "-o", output)
    return SignRun(CliOutcome(done.returncode, done.stderr.strip()), done.stderr, output)


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_corpus(tmp_path_factory.mktemp("hostile"), CASES)


@pytest.fixture(scope="module")
def cli_runs(
    hostile_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    """Every CLI surface over the corpus, run once: ``{surface: CliRun}`` for the batch
    commands, ``{"cli_sign": {case: SignRun}}`` and ``{"signed_verify": CliRun}`` (what
    was signed, verified)."""
    home = tmp_path_factory.mktemp("hostile-cli-home")
    # One identity before the signs run in parallel (the first sign would create it).
    assert _cli(home, "keys", "init").returncode == 0
    runs: dict[str, object] = {
        f"cli_{command}": _batch(home, hostile_files, command)
        for command in ("verify", "hash", "detect")
    }
    out_dir = tmp_path_factory.mktemp("hostile-signed")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            case.name: pool.submit(_sign, home, hostile_files[case.name], out_dir)
            for case in SIGNED_CASES
        }
        runs["cli_sign"] = {name: future.result() for name, future in futures.items()}
    signed = {name: run.output for name, run in runs["cli_sign"].items() if run.output.exists()}
    runs["signed_verify"] = _batch(home, signed, "verify") if signed else None
    return runs


def _check_cli_outcome(outcome: CliOutcome, expected: Outcome, stderr: str) -> None:
    assert "Traceback" not in stderr
    _assert_no_passwd(stderr, "stderr")
    assert outcome.status == expected.status, outcome
    if expected.status == ExitStatus.ERROR:
        lines = outcome.says.splitlines()
        assert len(lines) == 1, f"one line on stderr, not {lines}"
        assert lines[0].startswith("error: "), lines[0]
        assert expected.says in lines[0], lines[0]
    else:
        assert not outcome.says.startswith("error:"), outcome.says
    if expected.state is not None:
        assert outcome.state == expected.state


@pytest.mark.parametrize("surface", ["cli_verify", "cli_hash", "cli_detect"])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_cli_commands_over_many_files(cli_runs: dict, case: Case, surface: str) -> None:
    run: CliRun = cli_runs[surface]
    _check_cli_outcome(run.cases[case.name], case.expect[surface], run.stderr)
    _assert_no_passwd(run.stdout, "stdout")


@pytest.mark.parametrize("surface", ["cli_verify", "cli_hash", "cli_detect"])
def test_cli_stderr_holds_one_error_line_per_refused_file_and_nothing_else(
    cli_runs: dict, hostile_files: dict[str, Path], surface: str
) -> None:
    run: CliRun = cli_runs[surface]
    refused = [case for case in CASES if case.expect[surface].status == ExitStatus.ERROR]
    lines = run.stderr.splitlines()
    assert all(line.startswith("error: ") for line in lines), run.stderr
    assert len(lines) == len(refused), run.stderr
    for line in lines:
        owners = [name for name, path in hostile_files.items() if str(path) in line]
        assert len(owners) == 1, line
    if surface == "cli_verify":
        expected = worst([ExitStatus(case.expect[surface].status) for case in CASES])
    else:
        expected = ExitStatus.ERROR if refused else ExitStatus.SUCCESS
    assert run.returncode == expected


@pytest.mark.parametrize("case", SIGNED_CASES, ids=lambda case: case.name)
def test_cli_sign(cli_runs: dict, case: Case) -> None:
    run: SignRun = cli_runs["cli_sign"][case.name]
    expected = case.expect["cli_sign"]
    _check_cli_outcome(run.outcome, expected, run.stderr)
    if expected.status == ExitStatus.ERROR:
        assert not run.output.exists(), "a failed sign leaves no output"
        return
    assert run.stderr == "", run.stderr
    verified = cli_runs["signed_verify"].cases[case.name]
    assert verified.state == "valid", verified
