"""On-screen secrets: a synthetic session types an AWS key id, a card number, a lab's ticket id and a plain
sentence into a terminal (real H.264 through the real writers); `scan_screen` reads the keyframes with the real
tesseract and must find each secret once, with a box around where it was drawn and a span over the frames that
show it, and nothing in the sentence or in a session without secrets."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytesseract
import pytest
from PIL import Image

from recorder.sealing.synthetic import SyntheticSpec, SyntheticTruth, _Desktop, synthesize_bundle
from trajrec.errors import OcrError
from trajrec.format import EventKind
from trajrec.onscreen import ScreenSecret, ocr_available, scan_screen
from trajrec.reader import BundleReader
from trajrec.secrets import detect

AWS_ID = "AKIAZ3MHT5QW7XJ2KLPB"  # AWS's key id pattern; not a real key
CARD = "4111 1111 1111 1111"  # the Luhn-valid test card number
SENTENCE = "the build finished in 12 seconds"
# Row 0 is not used: the synthetic terminal draws its first row into the title bar.
TEXT = f"echo ready\naws id {AWS_ID}\npay {CARD}\n{SENTENCE}\nsee PROJ-4821 now\n"
LAB = [re.compile(r"PROJ-\d{4}")]
SIZE = (1280, 720)


@pytest.fixture(scope="module", autouse=True)
def tesseract() -> None:
    """The real OCR engine, installed by scripts/setup.sh: its absence is a failure, not a skip."""
    problem = ocr_available()
    if problem is not None:
        pytest.fail(f"{problem}: run scripts/setup.sh as root")


@pytest.fixture(scope="module")
def typed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SyntheticTruth]:
    spec = SyntheticSpec(duration_s=30.0, width=SIZE[0], height=SIZE[1], audio=False, text=TEXT, seed=3)
    return synthesize_bundle(tmp_path_factory.mktemp("onscreen"), spec)


@pytest.fixture(scope="module")
def found(typed: tuple[Path, SyntheticTruth]) -> list[ScreenSecret]:
    with BundleReader(typed[0]) as reader:
        return scan_screen(reader, LAB, extra_ns=[typed_at(typed[1], AWS_ID)[1]])


def typed_at(truth: SyntheticTruth, text: str) -> tuple[int, int]:
    """(press, release) times of the last character of the first `text` typed."""
    presses = [e for e in truth.events if e.kind == EventKind.KEY_DOWN]
    typed = "".join("\n" if e.key == "enter" else (e.char or " ") for e in presses)
    last = presses[typed.index(text) + len(text) - 1]
    release = next(e for e in truth.events if e.kind == EventKind.KEY_UP and e.seq > last.seq)
    return last.t_ns, release.t_ns


def row_of(text: str) -> int:
    return TEXT.split("\n").index(next(line for line in TEXT.split("\n") if text in line))


def test_tesseract_is_available() -> None:
    assert ocr_available() is None


def test_each_secret_is_found_once_and_the_sentence_never(found: list[ScreenSecret]) -> None:
    assert sorted(s.kind for s in found) == ["AWS Access Key", "Lab pattern 1", "Payment card number"]
    desk = _Desktop(*SIZE)
    x, y, w, h = desk.term
    for s in found:
        bx, by, bw, bh = s.box
        assert x <= bx and bx + bw <= x + w and y <= by and by + bh <= y + h, s  # inside the terminal
        assert bh < 2 * desk.line_h, s  # one line of text
    sentence_baseline = y + 40 + row_of(SENTENCE) * desk.line_h
    assert not any(s.box[1] < sentence_baseline < s.box[1] + s.box[3] for s in found)


def test_boxes_hold_the_secret_where_it_was_drawn(
    typed: tuple[Path, SyntheticTruth], found: list[ScreenSecret]
) -> None:
    desk = _Desktop(*SIZE)
    drawn = {"AWS Access Key": AWS_ID, "Payment card number": CARD, "Lab pattern 1": "PROJ-4821"}
    with BundleReader(typed[0]) as reader:
        for s in found:
            x, y, w, h = s.box
            row, text = row_of(drawn[s.kind]), drawn[s.kind]
            baseline = desk.term[1] + 40 + row * desk.line_h  # where _Desktop draws row `row`, column `col`
            first = desk.term[0] + 8 + TEXT.split("\n")[row].index(text) * desk.char_w
            assert y < baseline <= y + h + 2, s
            assert x <= first + 2 and first + (len(text) - 1) * desk.char_w < x + w, s  # first to last character
            grey = np.asarray(Image.fromarray(reader.frame(s.seen[-1])).convert("L"), dtype=float)
            crop = 255 - grey[y : y + h, x : x + w]  # dark text on light, over the whole grey range, a margin
            crop = np.pad(
                ((crop - crop.min()) * 255 / (crop.max() - crop.min())).astype(np.uint8), 16, constant_values=255
            )
            kinds = set()
            for scale in (1, 2):  # tesseract misreads this font's digits or letters at one size or the other
                image = Image.fromarray(crop).resize((crop.shape[1] * scale, crop.shape[0] * scale))
                text = pytesseract.image_to_string(image, config="--psm 7")
                kinds |= {k for k, _, _ in detect(text, LAB) + detect(text.replace(" ", ""), LAB)}
            assert s.kind in kinds, s


def test_spans_cover_the_frames_that_show_each_secret(
    typed: tuple[Path, SyntheticTruth], found: list[ScreenSecret]
) -> None:
    truth = typed[1]
    with BundleReader(typed[0]) as reader:
        times = reader.frame_times()
        keys = set(np.flatnonzero(reader.frames().column("keyframe").to_numpy(zero_copy_only=False)).tolist())
        extra = reader.frame_index_at(typed_at(truth, AWS_ID)[1])
    for s, text in zip(sorted(found, key=lambda s: s.start_ns), [AWS_ID, CARD, "PROJ-4821"], strict=True):
        press, _ = typed_at(truth, text)
        first_showing = int(np.searchsorted(times, press, side="right"))  # the first frame grabbed after the key
        assert s.start_ns <= times[first_showing] and s.end_ns == times[-1], s  # on screen to the end
        assert s.seen[-1] == max(keys), s  # (a frame before may show it already: OCR may read one character as two)
        assert set(s.seen) <= keys | {extra}, s


def test_the_frame_at_an_extra_time_is_read(typed: tuple[Path, SyntheticTruth], found: list[ScreenSecret]) -> None:
    with BundleReader(typed[0]) as reader:
        at = reader.frame_index_at(typed_at(typed[1], AWS_ID)[1])
        assert at is not None and not reader.frames().column("keyframe")[at].as_py()
    aws = next(s for s in found if s.kind == "AWS Access Key")
    assert at in aws.seen  # read between keyframes


def test_a_session_without_secrets_gives_nothing_and_progress_is_told(tmp_path: Path) -> None:
    bundle, _ = synthesize_bundle(tmp_path, SyntheticSpec(duration_s=8.0, width=SIZE[0], height=SIZE[1], audio=False))
    calls: list[tuple[int, int]] = []
    with BundleReader(bundle) as reader:
        assert scan_screen(reader, LAB, progress=lambda done, total: calls.append((done, total))) == []
        keys = int(np.sum(reader.frames().column("keyframe").to_numpy(zero_copy_only=False)))
    assert calls == [(n, keys) for n in range(1, keys + 1)]


def test_missing_tesseract_says_what_to_install(
    typed: tuple[Path, SyntheticTruth], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    assert ocr_available() == "tesseract is not installed: apt-get install tesseract-ocr"
    with BundleReader(typed[0]) as reader, pytest.raises(OcrError, match="apt-get install tesseract-ocr"):
        scan_screen(reader)
