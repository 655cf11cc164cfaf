"""The HTML quality report (trajrec.quality.html) in a real headless browser: Debian's Chromium driven by
Playwright renders pages made from real synthetic bundles, with no network, no script errors, hostile bundle text
shown as text, and a table that sorts."""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import trajrec
from recorder.sealing.synthetic import SyntheticSpec, synthesize_bundle
from trajrec.quality.html import render
from trajrec.quality.policy import DEFAULT, Grade
from trajrec.quality.report import Entry, report

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
HOSTILE = ("<img src=x onerror=alert(1)>", "</script><script>alert(2)</script>")


@pytest.fixture(scope="module")
def entries(tmp_path_factory: pytest.TempPathFactory) -> list[Entry]:
    """Two real bundles: 8 s with a voiceover, a pause and an audio gap; 12 s without a microphone, whose screen
    capture stalled for 3 s."""
    d = tmp_path_factory.mktemp("report-html")
    specs = (SyntheticSpec(duration_s=8.0, width=320, height=240, pause=True, audio_gap=True, seed=1),
             SyntheticSpec(duration_s=12.0, width=320, height=240, audio=False, stall=(5.0, 3.0), seed=2))
    out = []
    for spec in specs:
        path, _ = synthesize_bundle(d, spec)
        with trajrec.open(path) as b:
            out.append(report(b, DEFAULT, figures=True))
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is installed by scripts/setup.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Loaded:
    page: Any
    url: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
def load(browser: Any, tmp_path: Path) -> Iterator[Any]:
    """load(html) -> Loaded: the page opened from a file in a fresh context, watched for errors, requests, dialogs;
    any request but the file itself and data: URIs is aborted."""
    contexts: list[Any] = []

    def _load(html: str) -> Loaded:
        path = tmp_path / f"report-{len(contexts)}.html"
        path.write_text(html, encoding="utf-8")
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        contexts.append(ctx)
        page = ctx.new_page()
        got = Loaded(page, path.as_uri())
        page.on("console", lambda m: got.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: got.errors.append(str(e)))

        def dialog(d: Any) -> None:
            got.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dialog)
        page.on("request", lambda r: got.requests.append(r.url))

        def route(r: Any) -> None:
            url = r.request.url
            r.continue_() if url == got.url or url.startswith("data:") else r.abort()

        page.route("**/*", route)
        page.goto(got.url, wait_until="load")
        return got

    yield _load
    for ctx in contexts:
        ctx.close()


def hostile(e: Entry) -> Entry:
    """A copy of `e` whose every bundle-given string carries markup and a script end tag."""
    assert e.figures is not None and e.quality is not None and e.grade is not None
    f = e.figures
    markers = [(t, kind, f"{HOSTILE[i % 2]} {text}") for i, (t, kind, text) in enumerate(f.markers)]
    shots = [(t, f"{HOSTILE[i % 2]} {text}", jpeg) for i, (t, text, jpeg) in enumerate(f.shots)]
    actions = [(HOSTILE[0] if i == 0 else kind, a, z) for i, (kind, a, z) in enumerate(f.actions)]
    q = copy.deepcopy(e.quality)
    q["session_id"] = HOSTILE[1] + q["session_id"]
    q["task"]["id"] = HOSTILE[0]
    grade = Grade(e.grade.grade, HOSTILE[1], [*e.grade.reasons, f"warn: {HOSTILE[0]} {HOSTILE[1]}"])
    figures = replace(f, markers=markers, shots=shots, actions=actions)
    return Entry(f"/data/{HOSTILE[0]}/{e.location}", q, grade, figures)


def test_bundle_page_draws_the_bundle_and_shows_hostile_text_as_text(entries: list[Entry], load: Any) -> None:
    e = hostile(entries[0])
    assert e.figures is not None and e.quality is not None
    f = e.figures
    assert f.actions and f.markers and f.shots and f.speech and f.level_dbfs and f.pauses, "a full synthetic bundle"
    html = render([e], generated_utc="2026-01-01 00:00 UTC")
    assert html.count("<script") == 1 and HOSTILE[0] not in html, "bundle text is escaped, not markup"
    got = load(html)
    page = got.page

    assert got.errors == [] and got.dialogs == []
    assert set(got.requests) <= {got.url} | {u for u in got.requests if u.startswith("data:")}, got.requests
    assert page.locator("svg.timeline rect.act").count() == len(f.actions)
    assert page.locator("svg.timeline g.marker").count() == len(f.markers)
    assert page.locator("svg.timeline rect.pause").count() == len(f.pauses)
    assert page.locator("svg.timeline rect.speech").count() == len(f.speech)
    assert page.locator("svg.timeline rect.gap").count() == len(e.quality["frames"]["stalls"])
    counts = e.quality["frames"]["histogram"]["counts"]
    assert page.locator("svg.frame-hist rect.bar").count() == len(counts)
    heights = page.eval_on_selector_all("svg.frame-hist rect.bar", "els => els.map(r => r.getBBox().height)")
    assert [h > 0 for h in heights] == [c > 0 for c in counts]
    assert heights.index(max(heights)) == counts.index(max(counts)), "the tallest bar is the fullest bin"
    points = (page.get_attribute("svg.level polyline.level-line", "points") or "").split()
    assert len(points) >= len(f.level_dbfs) // 2 > 10
    assert page.locator("svg.level rect.speech-bg").count() == len(f.speech)
    assert page.locator("svg.level line.threshold").count() == 1
    assert page.locator("svg.timeline").bounding_box()["width"] > 1000, "the timeline spans the page"

    widths = page.eval_on_selector_all("figure.shot img", "els => els.map(i => i.complete ? i.naturalWidth : 0)")
    assert len(widths) == len(f.shots) and all(w > 0 for w in widths), "every screenshot decoded"
    text = page.inner_text("body")
    for s in HOSTILE:
        assert s in text
    assert "FAIL" in page.inner_text(".verdict .badge").upper()
    assert page.locator(".verdict .reasons li").count() == len(e.grade.reasons if e.grade else [])
    assert got.errors == [] and got.dialogs == []


def test_batch_page_sorts_its_table_and_opens_a_bundle(entries: list[Entry], load: Any) -> None:
    broken = Entry("/data/broken <b>bundle</b>", error="manifest.json: not JSON <script>alert(3)</script>")
    got = load(render([*entries, broken], title="Batch <7>"))
    page = got.page
    assert got.errors == [] and got.dialogs == []
    assert page.locator("#bundles tbody tr").count() == 3
    assert "<script>alert(3)</script>" in page.inner_text("#bundles tbody")
    assert page.locator("#bundles tbody .badge.unreadable").count() == 1

    def column(name: str) -> list[str]:
        heads = page.eval_on_selector_all("#bundles thead th", "ths => ths.map(t => t.textContent.trim())")
        i = heads.index(name)
        values = page.eval_on_selector_all(f"#bundles tbody td:nth-child({i + 1})",
                                           "tds => tds.map(td => td.getAttribute('data-v'))")
        return [str(v) for v in values]

    durations = [float(e.quality["duration_s"]) for e in entries if e.quality]
    page.click("#bundles thead th:has-text('Duration')")
    up = column("Duration")
    assert up == [repr(v) for v in sorted(durations)] + [""], "numbers sort as numbers (8 < 12), blanks last"
    page.click("#bundles thead th:has-text('Duration')")
    assert column("Duration") == [repr(v) for v in sorted(durations, reverse=True)] + [""]
    assert page.get_attribute("#bundles thead th:has-text('Duration')", "aria-sort") == "descending"
    page.click("#bundles thead th:has-text('Narration')")
    narr = column("Narration")
    assert float(narr[0]) > 0.5 and narr[1:] == ["", ""], "a bundle without voiceover has no coverage"

    assert page.locator("svg.dist").count() == 5
    assert page.locator("details.bundle").count() == 3
    assert not page.eval_on_selector("#b1", "d => d.open")
    page.click("#bundles a[href='#b1']")
    assert page.eval_on_selector("#b1", "d => d.open"), "a bundle's link opens its section"
    assert "no voiceover in this bundle" in page.inner_text("#b1")
    assert page.locator("#b1 svg.timeline").count() == 1 and page.locator("#b1 svg.level").count() == 0
    stalls = entries[1].quality["frames"]["stalls"] if entries[1].quality else []
    assert len(stalls) == 1 and page.locator("#b1 svg.timeline rect.gap").count() == 1, "the stall is drawn"
    assert got.errors == [] and got.dialogs == []
    assert all(u == got.url or u.startswith("data:") for u in got.requests), got.requests


def test_a_screenshot_of_the_bundle_page_is_a_picture(entries: list[Entry], load: Any) -> None:
    from PIL import Image

    page = load(render(entries[:1])).page
    png = page.screenshot(full_page=True)
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.width == 1280 and img.height > 1200
    grey = np.asarray(img.convert("L"), dtype=np.float64)
    assert grey.std() > 12, "not a blank page"
    rgb = np.asarray(img.convert("RGB"), dtype=np.int16)
    assert (np.abs(rgb[..., 0] - rgb[..., 2]) > 60).mean() > 0.005, "the plots and the badge are in colour"
