"""The verify page in a real headless Chromium (Debian's), driven by Playwright."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import C2PA_FIXTURES, REPO_ROOT, encode, make_image
from tests.test_service import API_KEY, _upload, detector_checkpoint, server  # noqa: F401

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO_ROOT / "tests" / ".artifacts"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)"
)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


def _audit_in_page(page, url: str, path: Path) -> None:
    page.goto(url)
    page.set_input_files("#file", str(path))
    page.wait_for_selector("#result.shown", timeout=30_000)


def test_page_shows_signed_generated_image_and_plain_photo(server, browser, tmp_path):  # noqa: F811
    with server.client() as client:
        signed = client.post(
            "/v1/sign",
            files=_upload(encode(make_image(), "PNG"), "generated.png"),
            data={"ai_generated": "true", "family": "diffusion", "seed": "11"},
            headers={"X-API-Key": API_KEY},
        ).content
    generated = tmp_path / "generated.png"
    generated.write_bytes(signed)
    photo = tmp_path / "photo.jpg"
    make_image(seed=5).save(photo, "JPEG", quality=92)

    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    _audit_in_page(page, server.url, generated)
    assert page.inner_text("#verdict") == "declared ai"
    assert page.inner_text("#state") == "valid"  # the dev root is no trust anchor by default
    assert page.inner_text("#ai-declared") == "yes"
    assert page.inner_text("#source-type") == "trainedAlgorithmicMedia"
    assert "family=diffusion" in page.inner_text("#generator")
    assert "provaudit development signer" in page.inner_text("#signer")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-generated.png"), full_page=True)

    _audit_in_page(page, server.url, photo)
    assert page.inner_text("#state") == "absent"
    assert page.inner_text("#ai-declared") == "no manifest"
    assert float(page.inner_text("#p-ai")) >= 0.0
    verdict = page.inner_text("#verdict")
    assert verdict in ("likely ai", "likely real", "inconclusive")
    detector_says = page.inner_text("#detector-label")
    # The detector's own answer, with its reason when it abstains, matches the verdict.
    assert (
        detector_says.split(":")[0]
        == {
            "likely ai": "ai",
            "likely real": "real",
            "inconclusive": "inconclusive",
        }[verdict]
    )
    if verdict == "inconclusive":
        assert "abstains" in page.inner_text("#reasons") and ": " in detector_says
    assert "no provenance signal" in page.inner_text("#reasons")
    page.screenshot(path=str(ARTIFACTS / "web-photo.png"), full_page=True)
    assert errors == []


def test_page_shows_ingredient_tree_with_thumbnails(server, browser):  # noqa: F811
    page = browser.new_page()
    _audit_in_page(page, server.url, C2PA_FIXTURES / "adobe-20220124-CIE-sig-CA.jpg")
    assert page.inner_text("#state") == "valid"  # the consortium's roots are not trusted here
    tree = page.inner_text("#tree")
    assert "E-sig-CA.jpg" in tree and "A.jpg" in tree
    assert "claimSignature.mismatch" in tree
    assert page.locator("#tree img").count() >= 1


def test_page_reports_bad_upload(server, browser, tmp_path):  # noqa: F811
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    page = browser.new_page()
    page.goto(server.url)
    page.set_input_files("#file", str(bad))
    page.wait_for_function("document.getElementById('error').textContent.length > 0")
    assert "not a supported image" in page.inner_text("#error")


def test_page_fits_a_phone(server, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 390, "height": 844})
    _audit_in_page(page, server.url, C2PA_FIXTURES / "adobe-20220124-CIE-sig-CA.jpg")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-390.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_page_describes_a_recovered_manifest_in_words(server, browser, tmp_path):  # noqa: F811
    """A file whose manifest cannot be parsed: `invalid`, and its match read as a sentence."""
    from tests.test_sign_verify import _unreadable_manifests

    photo = encode(make_image((320, 240)), "JPEG", quality=90)
    with server.client() as client:
        signed = client.post(
            "/v1/sign",
            files=_upload(photo, "p.jpg", "image/jpeg"),
            headers={"X-API-Key": API_KEY},
        ).content
    (broken,) = _unreadable_manifests(signed, count=1)
    path = tmp_path / "broken.jpg"
    path.write_bytes(broken)
    page = browser.new_page(viewport={"width": 390, "height": 900})
    _audit_in_page(page, server.url, path)
    assert page.inner_text("#state") == "invalid"
    matches = page.inner_text("#matches")
    assert matches.startswith("manifest urn:c2pa:") and "distance 0 (PDQ)" in matches
    assert "{" not in matches
    assert "cannot be read" in page.inner_text("#reasons")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_verify_the_api_and_the_page_agree_on_a_converted_ai_image(
    server,  # noqa: F811
    browser,
    tmp_path,
    run_cli,
):
    """A ChatGPT-like download (the AI declaration is its parent's): the CLI, the API and the
    page give the same state, the same declaration and the same trust list snapshot."""
    from provenance.keys import default_identity
    from provenance.signing import Parent, ProvenanceSigner, SignRequest

    signer = ProvenanceSigner(default_identity()[0])
    parent = signer.sign(encode(make_image(seed=8), "PNG"), SignRequest(ai_generated=True)).data
    child = signer.sign(
        encode(make_image(seed=8), "JPEG", quality=92),
        SignRequest(parent=Parent(parent, "generated.png"), edit_actions=("c2pa.converted",)),
    ).data
    path = tmp_path / "download.jpg"
    path.write_bytes(child)

    cli = json.loads(run_cli("verify", path, "--json").stdout)
    with server.client() as client:
        api = client.post("/v1/verify", files=_upload(child, "download.jpg", "image/jpeg")).json()
        audit = client.post("/v1/audit", files=_upload(child, "download.jpg", "image/jpeg")).json()
    for key in ("state", "ai_declared", "ai_declaration", "trust_list", "asset_signals"):
        assert cli[key] == api[key] == audit["provenance"][key], key
    assert cli["state"] == "valid" and cli["ai_declaration"]["where"] == "ingredient"
    assert audit["verdict"] == "declared_ai" and audit["declared_by"] == "c2pa_ingredient"

    page = browser.new_page()
    _audit_in_page(page, server.url, path)
    assert page.inner_text("#state") == cli["state"]
    assert page.inner_text("#ai-declared").startswith(
        "yes, in its parentOf ingredient generated.png"
    )
    assert page.inner_text("#trust-list") == (
        f"{cli['trust_list']['name']}, issued {cli['trust_list']['issued'][:10]}"
    )
    assert "Fully GenAI Media (ingredient)" in page.inner_text("#asset-signals")
    assert "declared ai" in page.inner_text("#verdict")
