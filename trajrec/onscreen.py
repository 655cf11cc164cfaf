"""On-screen secrets: API keys, tokens, card numbers and a lab's own patterns read off a sealed bundle's screen
video by OCR (tesseract, through pytesseract), each with where it was on screen and when it was there.

Frames read: every keyframe (an IDR at least every 2 s, which decodes alone: frames between keyframes are decoded
only up to a frame asked for) and the frame on screen at each time of `extra_ns` (callers pass the ends of typing
stretches). A frame is read as grey, dark text on light (mostly dark rows inverted), levels stretched, upscaled 2x
when the first text read is small, and only where it changed since the previous frame read: rows of 16x16 blocks
where a pixel moved by more than re-encoding noise, widened by a line's height, are read again; findings in blocks
that did not change carry over. One tesseract run reads several frames, a page each (a run costs 0.14 CPU-s before
it reads anything). Words are grouped into tesseract's lines; each line goes through `trajrec.secrets.detect` as
read and, where tesseract split a token (a gap far narrower than the frame's usual space), with those words
joined. A detector's character range maps to the union box of the words it covers. Each of these choices was
measured (bench/README.md): without one, fewer secrets were read or more CPU was spent.

Across frames, a hit of the same kind whose box overlaps (IoU > 0.3) that of a finding in the previous frame read
continues the finding; any other hit starts one. Spans are conservative: from the frame after the last frame read
without the finding to the frame before the next frame read without it (the video's ends at the ends).

Findings hold a kind, a box and a span, never the text read. tesseract runs as many processes at once as there are
CPUs, each with OMP_THREAD_LIMIT=1 unless the environment sets it: its OpenMP threads cost 2-3x the CPU time on a
screen image for no gain in wall time (measured: bench/README.md).
"""

from __future__ import annotations

import itertools
import os
import re
import statistics
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from trajrec import format as fmt
from trajrec.errors import BundleMemberError, OcrError
from trajrec.reader import MEDIA_ERRORS, BundleReader
from trajrec.secrets import ENTROPY_TYPES, detect

Box = tuple[int, int, int, int]  # x, y, w, h in video pixels
Line = list[tuple[str, Box]]  # the words of one line, in reading order
Piece = tuple[int, np.ndarray]  # rows of a frame to read: y, and the rows as dark text on light
Patterns = Sequence[re.Pattern[str]]
Cache = dict[str, list[tuple[str, int, int]]]  # detector hits by line text: unchanged lines recur frame after frame

BLOCK = 16  # px: the grid on which changes are found
CHANGED = 48  # luma levels: a pixel that moved more changed (re-encoding a still screen moved some by up to 38)
MARGIN = 1 / 24  # of the frame's height (at least 32 px), read again around changed blocks: whole lines of text
BATCH = 2.0  # frame heights of rows read by one tesseract run (a page each frame: a run costs 0.14 CPU-s to start)
FULL = 0.5  # read the whole frame when the rows to read again cover more of its height than this
DARK = 128  # a band whose median grey is below this is light text on dark: inverted
JOIN = 0.65  # a word gap under this share of the frame's median gap (each over its line's height) is in a token
SMALL = 16  # px: median word height under which text is read at 2x (fonts up to ~18 px: read more, measured)
PAD = 4  # px around a finding's box
IOU = 0.3  # overlap with a finding's box in the previous frame read that continues it
CONFIG = "--psm 3"  # automatic page segmentation (sparse text, 11, cut lines into pieces)
TIMEOUT_S = 120
CACHE_LINES = 50_000


@dataclass(frozen=True)
class ScreenSecret:
    kind: str  # detector name: "AWS Access Key", "Payment card number", "Lab pattern 1", ...
    start_ns: int  # conservative span on the session clock: t_ns of the first frame after the last frame read
    end_ns: int  # without it, to t_ns of the last frame before the next frame read without it (or the video's ends)
    box: tuple[int, int, int, int]  # x, y, w, h in video pixels: its words' boxes, padded, clipped to the frame
    seen: tuple[int, ...]  # indices of the frames read in which it was read


@dataclass(frozen=True)
class _Hit:
    kind: str
    box: Box  # the union of its words' boxes, unpadded


@dataclass
class _Track:
    kind: str
    box: Box  # the union over the frames it was read in
    last: Box  # its box in the latest of them
    seen: list[int]  # positions in the list of frames read


def ocr_available() -> str | None:
    """None when tesseract runs (with English data), else a one-line reason saying what to install."""
    try:
        import pytesseract

        pytesseract.get_tesseract_version()
        if "eng" not in pytesseract.get_languages():
            return "tesseract has no English data: apt-get install tesseract-ocr-eng"
    except ImportError:
        return "pytesseract is not installed: pip install pytesseract"
    except pytesseract.TesseractNotFoundError:
        return "tesseract is not installed: apt-get install tesseract-ocr"
    except (OSError, RuntimeError, SystemExit) as e:  # pytesseract exits on a version it cannot parse
        return f"tesseract does not run ({_first_line(e)}): reinstall tesseract-ocr"
    return None


def scan_screen(
    reader: BundleReader,
    patterns: Patterns = (),
    *,
    extra_ns: Iterable[int] = (),
    progress: Callable[[int, int], None] | None = None,
) -> list[ScreenSecret]:
    """Every secret read on screen in the bundle's video, in order of appearance; `progress(done, total)` after
    each frame read. Raises OcrError when tesseract is missing or fails, BundleError when the video is damaged."""
    reason = ocr_available()
    if reason is not None:
        raise OcrError(reason)
    table = reader.frames()
    if table.num_rows == 0:
        return []
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    times = reader.frame_times()
    keys = np.flatnonzero(np.asarray(table.column("keyframe").to_numpy(zero_copy_only=False), dtype=bool))
    extra = np.searchsorted(times, np.fromiter(extra_ns, np.int64), side="right") - 1
    chosen = sorted({0, *map(int, keys), *(int(i) for i in extra if i >= 0)})
    workers = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    cache: Cache = {}
    tracks: list[_Track] = []
    hits: list[_Hit] = []
    batch: list[tuple[np.ndarray | None, list[Piece]]] = []  # frames whose pieces are not handed to tesseract yet
    pending: deque[tuple[np.ndarray | None, Future[list[list[_Hit]]] | None, int]] = deque()  # frames in flight
    done = 0

    def submit() -> None:  # the batch's pieces, to one tesseract run
        pages = [pieces for _, pieces in batch]
        job = pool.submit(_read, pages, scale, patterns, cache) if any(pages) else None
        pending.extend((moved, job, k) for k, (moved, _) in enumerate(batch))
        batch.clear()

    def merge() -> None:  # the oldest frame in flight: what did not change carries over, then follow
        nonlocal hits, done
        moved, job, k = pending.popleft()
        kept = [] if moved is None else [h for h in hits if not _touches(h.box, moved)]
        hits = _deduped(kept + (job.result()[k] if job is not None else []))
        _follow(tracks, hits, done)
        done += 1
        if progress is not None:
            progress(done, len(chosen))

    grey, scale = None, dict[str, int]()  # {"x": 2} once the first text read is small: shared by the readers
    with ThreadPoolExecutor(workers, thread_name_prefix="ocr") as pool:
        try:
            for frame in _frames(reader, chosen, keys, [int(p) for p in table.column("pts").to_numpy()]):
                moved = None if grey is None else _changed(grey, frame)
                grey = frame
                bands = [] if moved is not None and not moved.any() else _bands(moved, grey.shape[0])
                pieces = [(y0, _normalized(grey[y0:y1])) for y0, y1 in bands]
                batch.append((moved, pieces))
                rows = sum(len(r) for _, ps in batch for _, r in ps)
                if not rows or rows >= BATCH * grey.shape[0] or len(batch) >= 64:  # (a still screen: nothing to read)
                    submit()
                while pending and (len(pending) > 64 or pending[0][1] is None or pending[0][1].done()):
                    merge()
            submit()
            while pending:
                merge()
        finally:
            pool.shutdown(cancel_futures=True)
    height, width = grey.shape if grey is not None else (0, 0)
    out = []
    for t in tracks:
        first, last = t.seen[0], t.seen[-1]
        start = times[chosen[first - 1] + 1] if first > 0 else times[0]
        end = times[chosen[last + 1] - 1] if last + 1 < len(chosen) else times[-1]
        seen = tuple(chosen[p] for p in t.seen)
        out.append(ScreenSecret(t.kind, int(start), int(end), _padded(t.box, width, height), seen))
    return sorted(out, key=lambda s: (s.start_ns, s.box[1], s.box[0]))


# --- frames ---------------------------------------------------------------------------------------------
def _frames(reader: BundleReader, chosen: list[int], keys: np.ndarray, pts: list[int]) -> Iterator[np.ndarray]:
    """Each chosen frame as grey, in order. Only the packets needed are decoded: a keyframe alone, or from the
    keyframe before a chosen frame up to it."""
    index_of = {p: i for i, p in enumerate(pts)}
    needed: set[int] = set()
    for i in chosen:
        k = int(np.searchsorted(keys, i, side="right")) - 1
        needed.update(range(int(keys[k]) if k >= 0 else 0, i + 1))
    wanted, out = set(chosen), 0
    try:
        with reader.source.open(fmt.VIDEO) as f, av.open(f, "r") as container:
            stream = container.streams.video[0]
            stream.thread_type = "SLICE"  # frames come out of the packet that carries them (no frame threading)
            for packet in container.demux(stream):
                n = index_of.get(packet.pts if packet.pts is not None else -1)
                if n is not None and n > chosen[-1]:
                    break
                for frame in packet.decode() if n in needed else ():
                    if index_of.get(frame.pts if frame.pts is not None else -1) in wanted:
                        out += 1
                        yield frame.to_ndarray(format="gray")
    except MEDIA_ERRORS as e:
        raise BundleMemberError(reader.source.location, fmt.VIDEO, f"cannot be decoded ({_first_line(e)})") from e
    if out != len(chosen):
        raise BundleMemberError(reader.source.location, fmt.VIDEO, f"{len(chosen) - out} listed frames not in it")


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Which BLOCK x BLOCK blocks have a pixel that moved by more than CHANGED."""
    h, w = a.shape
    moved = np.zeros((-(-h // BLOCK) * BLOCK, -(-w // BLOCK) * BLOCK), bool)
    moved[:h, :w] = (np.maximum(a, b) - np.minimum(a, b)) > CHANGED
    return np.asarray(moved.reshape(moved.shape[0] // BLOCK, BLOCK, -1, BLOCK).any(axis=(1, 3)), dtype=bool)


def _bands(moved: np.ndarray | None, height: int) -> list[tuple[int, int]]:
    """(y0, y1) of the rows to read again: those of changed blocks and a margin, or the whole frame."""
    if moved is None:
        return [(0, height)]
    margin = max(32, round(height * MARGIN))
    bands: list[tuple[int, int]] = []
    for r in np.flatnonzero(moved.any(axis=1)):
        y0, y1 = max(0, int(r) * BLOCK - margin), min(height, (int(r) + 1) * BLOCK + margin)
        if bands and y0 <= bands[-1][1]:
            bands[-1] = (bands[-1][0], y1)
        else:
            bands.append((y0, y1))
    return [(0, height)] if sum(b - a for a, b in bands) > FULL * height else bands


def _touches(box: Box, moved: np.ndarray) -> bool:
    x, y, w, h = box
    return bool(moved[y // BLOCK : (y + h - 1) // BLOCK + 1, x // BLOCK : (x + w - 1) // BLOCK + 1].any())


# --- reading --------------------------------------------------------------------------------------------
def _read(frames: list[list[Piece]], scale: dict[str, int], patterns: Patterns, cache: Cache) -> list[list[_Hit]]:
    """The hits in each frame's pieces. The first read with text says the scale for all: 2x for small text."""
    x = scale.get("x", 1)
    lines = _ocr(frames, x)
    heights = [b[3] for frame in lines for line in frame for _, b in line]
    if "x" not in scale and len(heights) >= 8:
        scale["x"] = 2 if statistics.median(heights) < SMALL else 1
    if scale.get("x", 1) > x:
        lines = _ocr(frames, scale["x"])
    return [_hits(frame, patterns, cache) for frame in lines]


def _hits(lines: list[Line], patterns: Patterns, cache: Cache) -> list[_Hit]:
    """Each line through the detectors (as read, and with split tokens joined); each hit with its words' box."""
    gaps = [g for line in lines for g in _gaps(line)]
    join = JOIN * statistics.median(gaps) if len(gaps) >= 3 else 0.0
    hits: list[_Hit] = []
    for line in lines:
        for text, spans in _readings(line, join):
            found = cache.get(text)
            if found is None:
                if len(cache) > CACHE_LINES:
                    cache.clear()
                found = cache[text] = detect(text, patterns)
            for kind, a, b in found:
                boxes = [line[k][1] for k, (s, e) in enumerate(spans) if s < b and e > a]
                hits += [_Hit(kind, _union(*boxes))] if boxes else []
    return hits


def _ocr(frames: list[list[Piece]], scale: int) -> list[list[Line]]:
    """tesseract's words in each frame's pieces, by line, in one run: a page per frame (its pieces stacked 32 px
    apart, upscaled by `scale`), each laid out on its own; boxes in frame pixels."""
    import pytesseract
    from PIL import Image

    wheres: list[list[tuple[int, int, int]]] = []  # per frame: (y in its page, height, y in the frame)
    with tempfile.TemporaryDirectory(prefix="trajrec-ocr-") as tmp:
        names = []
        for k, pieces in enumerate(frames):
            parts: list[np.ndarray] = []
            wheres.append([])
            for y, rows in pieces:
                parts += [np.full((32, rows.shape[1]), 255, np.uint8)] if parts else []
                wheres[-1].append((sum(len(p) for p in parts), len(rows), y))
                parts.append(rows)
            if parts:
                image = Image.fromarray(np.vstack(parts))
                if scale > 1:
                    image = image.resize((image.width * scale, image.height * scale), Image.Resampling.BICUBIC)
                names.append((k, os.path.join(tmp, f"{k}.png")))
                image.save(names[-1][1], compress_level=1)
        Path(tmp, "pages.txt").write_text("".join(f"{name}\n" for _, name in names))
        path = names[0][1] if len(names) == 1 else os.path.join(tmp, "pages.txt")
        try:
            data = pytesseract.image_to_data(
                path, config=CONFIG, output_type=pytesseract.Output.DICT, timeout=TIMEOUT_S
            )
        except pytesseract.TesseractNotFoundError as e:
            raise OcrError("tesseract is not installed: apt-get install tesseract-ocr") from e
        except pytesseract.TesseractError as e:
            raise OcrError(
                f"tesseract failed (exit {e.status}: {_first_line(e.message)}): try `tesseract --version`"
            ) from e
        except RuntimeError as e:  # pytesseract's timeout
            raise OcrError(f"tesseract took over {TIMEOUT_S} s ({e}): is the machine overloaded?") from e
    lines: list[dict[tuple[int, int, int], Line]] = [{} for _ in frames]
    for n, text in enumerate(data["text"]):
        k = names[int(data["page_num"][n]) - 1][0]
        x, top, w, h = (int(data[f][n]) // scale for f in ("left", "top", "width", "height"))
        at = next((p for p in wheres[k] if p[0] <= top < p[0] + p[1]), None)
        if int(data["level"][n]) != 5 or not str(text).strip() or at is None:
            continue
        key = (int(data["block_num"][n]), int(data["par_num"][n]), int(data["line_num"][n]))
        lines[k].setdefault(key, []).append((str(text).strip(), (x, top - at[0] + at[2], max(1, w), max(1, h))))
    return [list(frame.values()) for frame in lines]


def _normalized(part: np.ndarray) -> np.ndarray:
    """Dark text on light (a mostly dark band inverted), its grey levels stretched over 0..255."""
    if np.median(part[::4, ::4]) < DARK:
        part = 255 - part
    lo, hi = int(part.min()), int(part.max())
    if hi - lo < 32:
        return part
    lut = np.clip((np.arange(256) - lo) * 255 // (hi - lo), 0, 255).astype(np.uint8)
    out: np.ndarray = lut[part]
    return out


def _gaps(line: Line) -> list[float]:
    """Each gap between neighbouring words, over the line's height."""
    height = max(1.0, statistics.median(b[3] for _, b in line))
    return [max(0, b[0] - a[0] - a[2]) / height for (_, a), (_, b) in itertools.pairwise(line)]


def _readings(line: Line, join: float) -> list[tuple[str, list[tuple[int, int]]]]:
    """The line's text as read (words between single spaces) and, if it differs, with the words closer than
    `join` glued together; each with every word's character range."""
    out: list[tuple[str, list[tuple[int, int]]]] = []
    for glue in ([False] * len(line), [False, *(g < join for g in _gaps(line))]):
        text, spans = "", []
        for (word, _), glued in zip(line, glue, strict=True):
            text += "" if glued or not text else " "
            spans.append((len(text), len(text) + len(word)))
            text += word
        if not out or text != out[0][0]:
            out.append((text, spans))
    return out


# --- findings -------------------------------------------------------------------------------------------
def _deduped(hits: list[_Hit]) -> list[_Hit]:
    """One hit per place: hits of a kind, or a named one and entropy, that overlap by half the smaller box become
    one, named by the named detector (detect-secrets' GitHub detector covers only the token's prefix)."""
    out: list[_Hit] = []
    for h in sorted(hits, key=lambda h: (h.kind in ENTROPY_TYPES, -h.box[2] * h.box[3])):  # named, larger first
        k = next(
            (k for k, o in enumerate(out) if _iou(o.box, h.box, 1) > 0.5 and h.kind in (o.kind, *ENTROPY_TYPES)), -1
        )
        if k >= 0:
            out[k] = _Hit(out[k].kind, _union(out[k].box, h.box))
        else:
            out.append(h)
    return out


def _follow(tracks: list[_Track], hits: list[_Hit], pos: int) -> None:
    """Continue the findings of the previous frame read with this frame's hits; start new ones with the rest."""
    open_ = [t for t in tracks if t.seen[-1] == pos - 1]
    for h in hits:
        best = max(((_iou(t.last, h.box), n) for n, t in enumerate(open_) if t.kind == h.kind), default=(0.0, -1))
        if best[0] > IOU:
            t = open_.pop(best[1])
            t.box, t.last = _union(t.box, h.box), h.box
            t.seen.append(pos)
        else:
            tracks.append(_Track(h.kind, h.box, h.box, [pos]))


def _union(*boxes: Box) -> Box:
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    return (x0, y0, max(b[0] + b[2] for b in boxes) - x0, max(b[1] + b[3] for b in boxes) - y0)


def _iou(a: Box, b: Box, smaller: int = 0) -> float:
    """Intersection over union; with `smaller`, over the smaller box's area."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter, areas = max(0, w) * max(0, h), (a[2] * a[3], b[2] * b[3])
    return inter / (min(areas) if smaller else sum(areas) - inter) if inter else 0.0


def _padded(box: Box, width: int, height: int) -> Box:
    x0, y0 = max(0, box[0] - PAD), max(0, box[1] - PAD)
    return (x0, y0, min(width, box[0] + box[2] + PAD) - x0, min(height, box[1] + box[3] + PAD) - y0)


def _first_line(e: object) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__
