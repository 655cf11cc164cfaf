"""The quality report's screenshots in the docs: docs/report-bundle.png (one bundle's page) and docs/report-batch.png
(a batch of three), made from synthetic bundles and rendered by Debian's Chromium through Playwright.

    .venv/bin/python scripts/docs_report.py [--out docs]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import trajrec  # noqa: E402
from recorder.sealing.synthetic import SyntheticSpec, synthesize_bundle  # noqa: E402
from trajrec.quality.html import render  # noqa: E402
from trajrec.quality.policy import DEFAULT  # noqa: E402
from trajrec.quality.report import Entry, report  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SPECS = (  # a 20 s session with ten step markers, one without a microphone, one whose screen capture stalled
    SyntheticSpec(duration_s=20.0, width=640, height=360, pause=True, audio_gap=True, seed=3),
    SyntheticSpec(duration_s=12.0, width=640, height=360, audio=False, seed=5),
    SyntheticSpec(duration_s=30.0, width=640, height=360, stall=(12.0, 6.0), seed=7),
)
MAX_PNG = 600_000


def entries(work: Path) -> list[Entry]:
    out = []
    for spec in SPECS:
        path, _ = synthesize_bundle(work, spec)
        with trajrec.open(path) as b:
            out.append(report(b, DEFAULT, figures=True, location=f"recordings/batch-7/{path.name}"))
    return out


def shoot(pages: dict[str, str], out: Path, work: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            for name, html in pages.items():
                src = work / f"{name}.html"
                src.write_text(html, encoding="utf-8")
                page.goto(src.as_uri())
                png = out / f"{name}.png"
                page.screenshot(path=str(png), full_page=True)
                shrink(png)
                print(f"{png}: {png.stat().st_size // 1000} kB")
        finally:
            browser.close()


def shrink(png: Path) -> None:
    """A palette PNG when the full-colour one is over MAX_PNG (the page is mostly flat colour)."""
    if png.stat().st_size <= MAX_PNG:
        return
    from PIL import Image

    with Image.open(png) as img:
        small = img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(png, optimize=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs", help="where the PNGs go (default: docs/)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="docs-report-") as tmp:
        work = Path(tmp)
        got = entries(work)
        pages = {
            "report-bundle": render(got[:1], title="Quality report"),
            "report-batch": render(got, title="Quality report · batch 7"),
        }
        shoot(pages, args.out, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
