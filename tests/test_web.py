"""The verify page in a real headless Chromium (Debian's), driven by Playwright."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest
from PIL import Image

from tests.conftest import C2PA_FIXTURES, REPO_ROOT, SHARED, encode, make_image
from tests.test_service import API_KEY, _upload, detector_checkpoint, server  # noqa: F401

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = REPO_ROOT / "build" / "screenshots"
WITH_INGREDIENTS = SHARED / "c2pa-testfiles" / "jpeg" / "adobe-20220124-CAICAI.jpg"
PHONE = 390

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
    page.wait_for_load_state("networkidle")  # the match thumbnails, loaded or refused


def _screenshots(page, name: str) -> None:
    """The page at a desktop width and at a phone's, which must not scroll sideways."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, PHONE):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(100)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
        if width == PHONE:
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE, name
    page.set_viewport_size({"width": 1280, "height": 900})


def _sign(running, data: bytes, name: str, **fields: str) -> bytes:
    kind = "image/jpeg" if name.endswith(".jpg") else "image/png"
    with running.client() as client:
        response = client.post(
            "/v1/sign",
            files=_upload(data, name, kind),
            data=fields,
            headers={"X-API-Key": API_KEY},
        )
    assert response.status_code == 200, response.text
    return response.content


def _no_contradiction(page) -> None:
    """The verdict and the reasons say the same thing (docs/api.md, verdict policy)."""
    verdict = page.inner_text("#verdict")
    reasons = page.inner_text("#reasons")
    if verdict.startswith("likely"):
        assert "That manifest declares generative AI" not in reasons
        assert "all of them declare generative AI" not in reasons


def test_page_shows_a_signed_generated_image_like_verify(server, browser, tmp_path):  # noqa: F811
    signed = _sign(
        server,
        encode(make_image(), "PNG"),
        "generated.png",
        ai_generated="true",
        family="diffusion",
        seed="11",
        thumbnail="true",
    )
    path = tmp_path / "generated.png"
    path.write_bytes(signed)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _audit_in_page(page, server.url, path)
    assert page.inner_text("#verdict") == "declared AI"
    # The CLI's default: the dev root is no trust anchor, and the page says who signed.
    assert page.inner_text("#state") == "valid"
    assert page.is_visible("#dev-signer")
    assert page.inner_text("#dev-signer") == "development signer"
    assert page.inner_text("#signer") == "provaudit development signer"
    assert page.inner_text("#issuer") == "provaudit (development), ES256"
    assert page.inner_text("#title") == "generated.png"
    assert page.inner_text("#claim-generator").startswith("provaudit ")
    assert "no trusted time-stamp" in page.inner_text("#signed-on")
    assert page.inner_text("#ai-declared") == "yes"
    assert page.inner_text("#source-type") == "created by generative AI (trainedAlgorithmicMedia)"
    assert "family=diffusion" in page.inner_text("#generator")
    assert (
        page.inner_text("#actions") == "Created: created by generative AI (trainedAlgorithmicMedia)"
    )
    assert "Fully GenAI Media" in page.inner_text("#asset-signals")
    assert page.is_visible("#claim-thumb")
    assert page.evaluate("document.getElementById('claim-thumb').naturalWidth") > 0
    assert page.inner_text("#matches") == "none"
    assert "a development identity, for testing only" in page.inner_text("#reasons")
    _screenshots(page, "signed")
    assert errors == []


def test_page_shows_a_c2pa_test_file_with_its_ingredients(server, browser):  # noqa: F811
    if not WITH_INGREDIENTS.exists():
        pytest.skip("../shared/c2pa-testfiles is not beside the checkout")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _audit_in_page(page, server.url, WITH_INGREDIENTS)
    # EXPECTED.md: Verify shows "Two ingredients"; Trusted with the test roots, else Valid.
    assert page.inner_text("#state") == "valid"
    assert not page.is_visible("#dev-signer")
    assert page.locator("#tree > li").count() == 2
    assert page.locator("#tree img").count() >= 1
    assert page.inner_text("#signer") and page.inner_text("#signer") != "-"
    assert page.inner_text("#claim-generator") != "-"
    assert page.locator("#actions li").count() >= 1
    _screenshots(page, "c2pa-ingredients")


def test_page_shows_an_ingredients_problems_in_the_tree(server, browser):  # noqa: F811
    """The vendored test file whose ingredient's signature is invalid (EXPECTED.md)."""
    page = browser.new_page(viewport={"width": PHONE, "height": 844})
    _audit_in_page(page, server.url, C2PA_FIXTURES / "adobe-20220124-CIE-sig-CA.jpg")
    assert page.inner_text("#state") == "valid"  # the consortium's roots are not trusted here
    tree = page.inner_text("#tree")
    assert "E-sig-CA.jpg" in tree and "A.jpg" in tree
    assert "claimSignature.mismatch" in tree
    assert page.locator("#tree img").count() >= 1
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE


def test_page_shows_a_stripped_ai_image_as_recovered_with_the_match_thumbnail(
    server,  # noqa: F811
    browser,
    tmp_path,
):
    signed = _sign(
        server,
        encode(make_image(seed=31), "PNG"),
        "generated.png",
        ai_generated="true",
        family="gan",
        thumbnail="true",
    )
    path = tmp_path / "reposted.jpg"
    path.write_bytes(encode(Image.open(io.BytesIO(signed)).convert("RGB"), "JPEG", quality=80))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _audit_in_page(page, server.url, path)
    assert page.inner_text("#state") == "absent"
    assert page.inner_text("#verdict") == "declared AI (recovered by fingerprint)"
    assert "declared_ai_recovered" in page.get_attribute("#verdict", "class")
    assert "That manifest declares generative AI." in page.inner_text("#reasons")
    rows = page.locator("table.matches tbody tr")
    assert rows.count() == 1
    first = rows.first
    assert "closest" in first.get_attribute("class")
    assert first.inner_text().count("urn:c2pa:") == 1 and "{" not in first.inner_text()
    assert first.locator("td[data-label='Declares AI']").inner_text() == "yes"
    assert first.locator("img").evaluate("img => img.naturalWidth") > 0
    _no_contradiction(page)
    _screenshots(page, "recovered")


def test_page_says_equally_close_matches_disagree_instead_of_picking_one(
    server,  # noqa: F811
    browser,
    tmp_path,
):
    """The issue's contradiction: the same pixels signed once declaring AI and once not.
    A stripped copy matches both equally closely: the page says so in one reason beside an
    ``inconclusive`` verdict, never a "likely real" beside "declares generative AI"."""
    pixels = encode(make_image(seed=33), "PNG")
    _sign(server, pixels, "one.png", ai_generated="true")
    signed = _sign(server, pixels, "two.png")
    path = tmp_path / "reposted.jpg"
    path.write_bytes(encode(Image.open(io.BytesIO(signed)).convert("RGB"), "JPEG", quality=80))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _audit_in_page(page, server.url, path)
    assert page.inner_text("#verdict") == "inconclusive"
    reasons = page.locator("#reasons li").all_inner_texts()
    disagreement = [r for r in reasons if "equally closely" in r]
    assert len(disagreement) == 1
    assert "1 declares generative AI" in disagreement[0] and "1 does not" in disagreement[0]
    assert reasons[-1].startswith("Inconclusive: the equally close recorded manifests disagree")
    rows = page.locator("table.matches tbody tr.closest")
    assert rows.count() == 2
    declares = rows.locator("td[data-label='Declares AI']").all_inner_texts()
    assert sorted(declares) == ["no", "yes"]
    _no_contradiction(page)
    _screenshots(page, "disagreement")


def test_page_shows_a_plain_photo_as_no_provenance_signal(server, browser, tmp_path):  # noqa: F811
    photo = tmp_path / "photo.jpg"
    make_image(seed=5).save(photo, "JPEG", quality=92)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _audit_in_page(page, server.url, photo)
    assert page.inner_text("#state") == "absent"
    assert page.inner_text("#ai-declared") == "no manifest"
    assert not page.is_visible("#dev-signer") and not page.is_visible("#claim-thumb")
    assert not page.is_visible("#signer")  # no manifest: no signer row, not a "-"
    assert not page.is_visible("#history-block") and not page.is_visible("#tree-block")
    assert float(page.inner_text("#p-ai")) >= 0.0
    verdict = page.inner_text("#verdict")
    assert verdict in ("likely AI", "likely real", "inconclusive")
    detector_says = page.inner_text("#detector-label")
    # The detector's own answer, with its reason when it abstains, matches the verdict.
    assert (
        detector_says.split(":")[0]
        == {"likely AI": "ai", "likely real": "real", "inconclusive": "inconclusive"}[verdict]
    )
    if verdict == "inconclusive":
        assert "abstains" in page.inner_text("#reasons") and ": " in detector_says
    assert "no provenance signal" in page.inner_text("#reasons")
    _screenshots(page, "photo")


def test_page_shows_a_loading_state_while_the_audit_runs(server, browser, tmp_path):  # noqa: F811
    photo = tmp_path / "photo.jpg"
    make_image(seed=6).save(photo, "JPEG", quality=92)
    page = browser.new_page()
    held: list = []
    page.route("**/v1/audit*", lambda route: held.append(route))
    page.goto(server.url)
    assert not page.is_visible("#loading")
    page.set_input_files("#file", str(photo))
    page.wait_for_selector("#loading", state="visible")
    assert page.inner_text("#loading").startswith("Auditing photo.jpg")
    assert page.get_attribute("#drop", "aria-busy") == "true"
    assert not page.is_visible("#result")
    page.wait_for_function("true")  # lets Playwright hand the held request to the handler
    assert len(held) == 1
    held[0].continue_()
    page.wait_for_selector("#result.shown", timeout=30_000)
    assert not page.is_visible("#loading")
    assert page.get_attribute("#drop", "aria-busy") == "false"


def test_a_match_without_a_thumbnail_says_so(server, browser, tmp_path):  # noqa: F811
    """A manifest that cannot be parsed: ``invalid``, its recovered match in the table,
    with no thumbnail (signed without one) and the reason in words."""
    from tests.test_sign_verify import _unreadable_manifests

    signed = _sign(server, encode(make_image((320, 240)), "JPEG", quality=90), "p.jpg")
    (broken,) = _unreadable_manifests(signed, count=1)
    path = tmp_path / "broken.jpg"
    path.write_bytes(broken)
    page = browser.new_page(viewport={"width": PHONE, "height": 900})
    _audit_in_page(page, server.url, path)
    assert page.inner_text("#state") == "invalid"
    row = page.locator("table.matches tbody tr").first
    assert "manifest urn:c2pa:" in row.inner_text()
    assert "distance 0 (PDQ)" in row.locator("td[data-label='How close']").inner_text()
    assert row.locator(".no-thumb").inner_text() == "none recorded"
    assert "cannot be read" in page.inner_text("#reasons")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE


def test_manifest_thumbnail_endpoint(server):  # noqa: F811
    with_thumb = _sign(server, encode(make_image(seed=41), "PNG"), "a.png", thumbnail="true")
    without = _sign(server, encode(make_image(seed=42), "PNG"), "b.png")
    with server.client() as client:
        ids = [
            client.post("/v1/verify", files=_upload(data)).json()["active_manifest"]
            for data in (with_thumb, without)
        ]
        found = client.get(f"/v1/manifests/{ids[0]}/thumbnail")
        assert found.status_code == 200 and found.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(found.content)).size[0] <= 256
        for missing in (ids[1], "urn:c2pa:00000000-0000-0000-0000-000000000000"):
            response = client.get(f"/v1/manifests/{missing}/thumbnail")
            assert response.status_code == 404 and response.json()["error"]["code"]


@pytest.mark.parametrize(
    ("path", "ready"), [("/docs", ".swagger-ui .info .title"), ("/redoc", "h1")]
)
def test_api_docs_load_with_no_request_leaving_localhost(server, browser, path, ready):  # noqa: F811
    page = browser.new_page()
    outside: list[str] = []

    def only_local(route) -> None:
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + path)
    page.wait_for_selector(ready, timeout=30_000)
    assert "provaudit" in page.inner_text(ready)
    page.wait_for_load_state("networkidle")
    assert outside == [] and errors == []
    # The operations are listed, so the schema itself loaded from this server.
    assert "/v1/audit" in page.inner_text("body")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"api{path.replace('/', '-')}-1280.png"))


def test_page_reports_bad_upload(server, browser, tmp_path):  # noqa: F811
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    page = browser.new_page()
    page.goto(server.url)
    page.set_input_files("#file", str(bad))
    page.wait_for_function("document.getElementById('error').textContent.length > 0")
    assert "not a supported image" in page.inner_text("#error")
    assert not page.is_visible("#loading")


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
    assert cli["signer"]["development"] is api["signer"]["development"] is True
    assert cli["state"] == "valid" and cli["ai_declaration"]["where"] == "ingredient"
    assert audit["verdict"] == "declared_ai" and audit["declared_by"] == "c2pa_ingredient"

    page = browser.new_page()
    _audit_in_page(page, server.url, path)
    assert page.inner_text("#state") == cli["state"]
    assert page.is_visible("#dev-signer")
    assert page.inner_text("#ai-declared").startswith(
        "yes, in its parentOf ingredient generated.png"
    )
    assert page.inner_text("#trust-list") == (
        f"{cli['trust_list']['name']}, issued {cli['trust_list']['issued'][:10]}"
    )
    assert "Fully GenAI Media (ingredient)" in page.inner_text("#asset-signals")
    assert page.inner_text("#actions") == "Opened an existing file\nConverted to another format"
    assert page.inner_text("#verdict") == "declared AI"
