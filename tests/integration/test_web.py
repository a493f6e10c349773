"""The web page in a real browser: Debian's chromium driven by Playwright against a real server
(the `browser`, `service` and `open_page` fixtures and the `Page` tab: conftest.py, service.py).

Screenshots of every page land in test-output/screenshots/ (SECONDLOOK_TEST_OUTPUT to move it).
Where chromium or Playwright is missing these tests skip, unless SECONDLOOK_REQUIRE_BROWSER=1
(set by .ci/run), which turns the skip into a failure.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.integration.service import VERDICT_TITLES, Page, item_files

pytestmark = pytest.mark.slow


def _choose(page: Page, files: list[tuple[Path, str]]) -> None:
    page.tab.locator("#photo-input").set_input_files([str(path) for path, _ in files])
    for n, (_, view) in enumerate(files, start=1):
        page.tab.get_by_label(f"View of photo {n}").select_option(view)


def test_an_appraiser_uploads_photos_and_sees_the_verdict_and_a_heatmap(open_page, tmp_path: Path) -> None:
    page = open_page()
    page.screenshot("01-sign-in")
    page.sign_in("appraiser")
    assert page.service["keys"]["appraiser"] not in page.tab.url
    stored = page.tab.evaluate("sessionStorage.getItem('secondlook.apiKey')")
    assert stored == page.service["keys"]["appraiser"]
    assert page.tab.evaluate("localStorage.length") == 0
    files = item_files(page.service["manifest"], tmp_path)
    _choose(page, files)
    page.tab.get_by_label("Declared value").fill("1200")
    page.tab.get_by_label("Your reference").fill("SKU-42")
    page.screenshot("02-photos-chosen")
    page.tab.get_by_role("button", name="Appraise").click()

    banner = page.tab.locator("#result .banner")
    banner.wait_for()
    assert banner.locator(".verdict").inner_text() in VERDICT_TITLES
    assert page.tab.locator("#result .reasons li").count() >= 1
    cards = page.tab.locator("#result .card")
    assert cards.count() == len(files)
    assert "Condition report" in page.tab.locator("#result .condition").inner_text()
    assert "reviewer a" in page.tab.locator("#result table.list").inner_text()
    assert "SKU-42" in page.tab.locator("#result").inner_text()

    photo = cards.first.locator("img.photo")
    cards.first.get_by_label("Show heatmap").check()
    page.tab.wait_for_function(
        "img => img.dataset.showing === 'heatmap' && img.complete && img.naturalWidth > 0",
        arg=photo.element_handle(),
    )
    assert photo.get_attribute("src").startswith("blob:")
    page.screenshot("03-verdict-with-heatmap")
    assert page.console_errors == []


def test_a_photo_opens_full_size_with_zoom_and_pan(open_page, tmp_path: Path) -> None:
    page = open_page(width=800, height=600)
    page.sign_in("appraiser")
    files = item_files(page.service["manifest"], tmp_path)
    large = tmp_path / "large.jpg"  # a phone-sized photo: larger than the screen at its own pixels
    Image.open(files[0][0]).resize((1600, 1200)).save(large, quality=90)
    files[0] = (large, files[0][1])
    _choose(page, files)
    page.tab.get_by_role("button", name="Appraise").click()
    page.tab.locator("#result .banner").wait_for()
    card = page.tab.locator("#result .card").first
    page.tab.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=card.locator("img.photo").element_handle()
    )
    width, height = 1600, 1200

    card.get_by_role("button", name="Open full size").click()
    viewer = page.tab.get_by_role("dialog")
    viewer.wait_for()
    image = viewer.locator("img")
    assert image.evaluate("img => img.naturalWidth") == width  # the photo's own pixels
    viewer.get_by_role("button", name="Actual size").click()
    assert image.evaluate("img => img.getBoundingClientRect().width") == width
    for _ in range(3):
        viewer.get_by_role("button", name="Zoom in").click()
    assert image.evaluate("img => img.getBoundingClientRect().width") > 1.9 * width
    assert f"{width} × {height} px" in viewer.locator("output").inner_text()
    stage = viewer.locator(".viewer-stage")
    before = stage.evaluate("s => [s.scrollLeft, s.scrollTop]")
    box = stage.bounding_box()
    page.tab.mouse.move(box["x"] + 200, box["y"] + 200)
    page.tab.mouse.down()
    page.tab.mouse.move(box["x"] + 150, box["y"] + 170)
    page.tab.mouse.up()
    after = stage.evaluate("s => [s.scrollLeft, s.scrollTop]")
    assert after[0] > before[0] and after[1] > before[1]  # dragging left and up pans right and down
    page.screenshot("03b-photo-full-size")
    page.tab.keyboard.press("Escape")
    viewer.wait_for(state="hidden")
    assert page.console_errors == []


def test_photos_can_be_dropped_on_the_page(open_page, tmp_path: Path) -> None:
    page = open_page()
    page.sign_in("appraiser")
    path, _ = item_files(page.service["manifest"], tmp_path)[0]
    payload = base64.b64encode(path.read_bytes()).decode()
    transfer = page.tab.evaluate_handle(
        """(b64) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
            return transfer;
        }""",
        payload,
    )
    page.tab.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    assert page.tab.locator("#chosen li").count() == 1
    assert "dropped.png" in page.tab.locator("#chosen").inner_text()
    assert page.console_errors == []


def test_missing_views_show_what_to_retake(open_page, tmp_path: Path) -> None:
    page = open_page()
    page.sign_in("appraiser")
    files = [f for f in item_files(page.service["manifest"], tmp_path) if f[1] != "stamp"][:1]
    _choose(page, files)
    page.tab.get_by_role("button", name="Appraise").click()
    page.tab.locator("#result .banner").wait_for()
    assert page.tab.locator("#result .verdict").inner_text() == "Unable to verify"
    guidance = page.tab.locator("#result .retake")
    assert "What to retake" in guidance.inner_text()
    assert "stamp" in guidance.inner_text()
    page.screenshot("04-unable-to-verify")
    assert page.console_errors == []


def test_a_bad_upload_shows_the_apis_message(open_page, tmp_path: Path) -> None:
    page = open_page()
    page.sign_in("appraiser")
    fake = tmp_path / "invoice.jpg"
    fake.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")
    page.tab.locator("#photo-input").set_input_files(str(fake))
    page.tab.get_by_role("button", name="Appraise").click()
    error = page.tab.get_by_role("alert")
    error.wait_for()
    assert "photo 1 (invoice.jpg)" in error.inner_text()
    assert page.tab.locator("#result").is_hidden()
    page.screenshot("05-bad-upload")
    # the browser logs the 422 itself; nothing else may go wrong
    assert all("status of 422" in line for line in page.console_errors), page.console_errors


def test_a_wrong_key_is_refused_with_a_readable_message(open_page) -> None:
    page = open_page()
    page.tab.get_by_label("API key").fill("sl_not_a_key")
    page.tab.get_by_role("button", name="Sign in").click()
    error = page.tab.get_by_role("alert")
    error.wait_for()
    assert "Your API key was not accepted" in error.inner_text()
    assert page.tab.evaluate("sessionStorage.length") == 0
    assert all("status of 401" in line for line in page.console_errors), page.console_errors


def _referred_item(service, tmp_path: Path) -> str:
    """An item that needs expert review, uploaded through the API as the appraiser."""
    files = item_files(service["manifest"], tmp_path)
    response = requests.post(
        f"{service['url']}/v1/appraisals",
        files=[("photos", (p.name, p.read_bytes(), "image/png")) for p, _ in files],
        data=[("views", v) for _, v in files] + [("declared_value", "100000")],
        headers={"Authorization": f"Bearer {service['keys']['appraiser']}"},
        timeout=60,
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "awaiting_review"  # provisional or referred: experts must look
    return response.json()["id"]


def _review(page: Page, appraisal_id: str, decision: str) -> str:
    page.tab.get_by_role("button", name="Review queue").click()
    page.tab.locator(f"#queue-list button[data-id='{appraisal_id}']").click()
    page.tab.locator("#review form").wait_for()
    assert appraisal_id in page.tab.locator("#review h3").first.inner_text()
    page.tab.get_by_role("radio", name=decision).check()
    page.tab.get_by_label("Note (optional)").fill(f"{decision.lower()} by eye")
    page.tab.get_by_role("button", name="Submit review").click()
    page.tab.locator("#review .reviews").wait_for()  # shown once the review is recorded
    return page.tab.locator("#notice").inner_text()


def test_experts_review_blind_and_an_arbiter_settles_a_disagreement(
    open_page, service, tmp_path: Path
) -> None:
    appraisal_id = _referred_item(service, tmp_path)

    expert = open_page()
    expert.sign_in("expert")
    expert.tab.get_by_role("button", name="Review queue").click()
    expert.tab.locator(f"#queue-list button[data-id='{appraisal_id}']").click()
    review = expert.tab.locator("#review")
    review.locator("form").wait_for()
    shown = review.inner_text().replace(review.locator("form").inner_text(), "")  # all but the form
    assert review.locator(".card").count() >= 1
    # blind: no AI verdict, no reviewer scores, no other review before submitting
    assert not any(title in shown for title in VERDICT_TITLES[:3])
    assert review.locator(".banner").count() == 0 and "reviewer a" not in shown.lower()
    assert review.get_by_label("Show heatmap").count() == 0  # the API gives no evidence map yet
    expert.screenshot("06-blind-review-form")
    expert.tab.get_by_role("radio", name="Authentic").check()
    expert.tab.get_by_role("button", name="Submit review").click()
    expert.tab.locator("#notice").wait_for()
    assert "Waiting for two independent expert reviews" in expert.tab.locator("#notice").inner_text()
    expert.screenshot("07-review-recorded")

    second = open_page(390, 844)  # a phone
    second.sign_in("expert2")
    notice = _review(second, appraisal_id, "Counterfeit")
    assert "waiting for an arbiter" in notice
    # now that expert2 has reviewed, both reviews are shown
    assert "Authentic" in second.tab.locator("#review .reviews").inner_text()
    second.screenshot("08-phone-after-disagreement")

    arbiter = open_page()
    arbiter.sign_in("arbiter")
    arbiter.tab.get_by_role("button", name="Review queue").click()
    assert arbiter.tab.locator("#queue-title").inner_text() == "Disagreements to arbitrate"
    arbiter.screenshot("09-arbiter-queue")
    notice = _review(arbiter, appraisal_id, "Inconclusive")
    assert "Final decision: Inconclusive" in notice
    for page in (expert, second, arbiter):
        assert page.console_errors == []


def test_history_filters_by_verdict_and_opens_an_appraisal(open_page, service, tmp_path: Path) -> None:
    _referred_item(service, tmp_path)
    detail_only = [f for f in item_files(service["manifest"], tmp_path) if f[1] != "stamp"][:1]
    unable = requests.post(
        f"{service['url']}/v1/appraisals",
        files=[("photos", (p.name, p.read_bytes(), "image/png")) for p, _ in detail_only],
        data=[("views", v) for _, v in detail_only],
        headers={"Authorization": f"Bearer {service['keys']['appraiser']}"},
        timeout=60,
    )
    assert unable.json()["state"] == "UNABLE_TO_VERIFY"
    page = open_page()
    page.sign_in("appraiser")
    page.tab.get_by_role("button", name="History").click()
    page.tab.locator("#history-table tbody tr").first.wait_for()
    everything = page.tab.locator("#history-table tbody tr").count()
    page.tab.get_by_label("Verdict").select_option("UNABLE_TO_VERIFY")
    page.tab.get_by_role("button", name="Show").click()
    page.tab.wait_for_function(
        f"() => document.querySelectorAll('#history-table tbody tr').length < {everything}"
        " || !document.querySelector('#history-empty').hidden"
    )
    verdicts = page.tab.locator("#history-table tbody tr td:nth-child(4)").all_inner_texts()
    assert verdicts and all(v == "Unable to verify" for v in verdicts)
    page.tab.get_by_label("Verdict").select_option("")
    page.tab.get_by_label("From").fill("2000-01-01")
    page.tab.get_by_label("Until").fill("2000-01-02")
    page.tab.get_by_role("button", name="Show").click()
    page.tab.locator("#history-empty").wait_for()
    page.tab.get_by_label("Until").fill("")
    page.tab.get_by_label("From").fill("")
    page.tab.get_by_role("button", name="Show").click()
    page.tab.locator("#history-table tbody tr").first.wait_for()
    page.screenshot("10-history")
    page.tab.get_by_role("button", name="Open").first.click()
    page.tab.locator("#result .banner").wait_for()
    page.tab.locator("#result .card img.photo[src^='blob:']").first.wait_for()
    assert page.console_errors == []


def test_keyboard_only_labels_and_a_phone_width_screen(open_page) -> None:
    page = open_page(360, 740)
    page.tab.keyboard.press("Tab")
    assert page.tab.evaluate("document.activeElement.textContent") == "Skip to content"
    page.tab.keyboard.press("Tab")  # nothing hidden is in the way
    assert page.tab.evaluate("document.activeElement.id") == "api-key"
    page.tab.keyboard.type(page.service["keys"]["appraiser"])
    page.tab.keyboard.press("Enter")
    page.tab.locator("#who").wait_for()
    unlabelled = page.tab.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter((e) => e.offsetParent !== null || e.classList.contains('visually-hidden'))
            .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                           && !e.textContent.trim())
            .map((e) => e.outerHTML)"""
    )
    assert unlabelled == []
    overflow = page.tab.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    page.screenshot("11-phone-new-appraisal")
    assert page.console_errors == []


def test_the_api_documentation_loads_only_from_this_origin(browser, service) -> None:
    """/docs renders the OpenAPI document with Swagger UI assets from this server, under a CSP."""
    context = browser.new_context()
    tab = context.new_page()
    requested: list[str] = []
    errors: list[str] = []
    tab.on("request", lambda r: requested.append(r.url))
    tab.on("console", lambda m: m.type == "error" and errors.append(m.text))
    tab.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    response = tab.goto(service["url"] + "/docs")
    assert response is not None
    assert "script-src 'self' 'sha256-" in response.headers["content-security-policy"]
    tab.get_by_text("/v1/appraisals").first.wait_for(timeout=30_000)
    assert tab.locator(".swagger-ui .info .title").inner_text().startswith("secondlook")
    foreign = [url for url in requested if not url.startswith((service["url"], "data:"))]
    assert foreign == [] and errors == [], (foreign, errors)
    context.close()
