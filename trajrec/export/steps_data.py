"""The steps of a bundle, as both exports write them: one record per action with its timing (session clock and UTC),
PyAutoGUI code normalised to the screenshot, the structured action, its window and element, its narration (ids of
the bundle's speech spans) and the frames before and after; plus the bundle's provenance (`meta`).

Coordinates: `structured` keeps the action's pixels (virtual desktop) and its display-normalised nx/ny; the code and
`x`/`y` are normalised to the screenshot, which is the recorded region of the desktop (the video frame), so a model
sees the point it should act on in the image it is given.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from trajrec.export.pyautogui import code
from trajrec.format import utc_iso

if TYPE_CHECKING:
    from trajrec.actions import Action, ActionRules
    from trajrec.reader import BundleReader

IMAGE_FORMATS = {"png": "PNG", "webp": "WEBP", "jpeg": "JPEG"}
EXPORT_VERSION = 1


@dataclass(frozen=True)
class ExportOptions:
    image_format: str = "png"  # png | webp (lossless) | jpeg
    max_width: int | None = None  # downscale screenshots wider than this (None: full resolution)
    moves: bool = True  # include the pointer coming to rest
    markers: bool = True  # include step/note markers as steps


@dataclass
class BundleSteps:
    """What an export writes for one bundle: the step records, the frames they name, and the meta record."""

    meta: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)  # frame indices the steps name, ascending

    def frame_name(self, index: int, ext: str) -> str:
        return f"frames/{index:06d}.{ext}"


def _region(b: BundleReader) -> tuple[float, float, float, float] | None:
    """The screenshot's place on the desktop: x0, y0, width, height in desktop pixels."""
    screen = b.manifest["streams"]["screen"]
    if not screen.get("present"):
        return None
    region: Any = screen.get("region") or {}
    (x0, y0), (w, h) = region.get("origin", (0, 0)), region.get("size_px", (screen["width"], screen["height"]))
    return float(x0), float(y0), float(w), float(h)


def _norm(region: tuple[float, float, float, float] | None, x: int | None, y: int | None) -> tuple[float, float] | None:
    if region is None or x is None or y is None:
        return None
    x0, y0, w, h = region
    return round(min(max((x - x0) / w, 0.0), 1.0), 4), round(min(max((y - y0) / h, 0.0), 1.0), 4)


def export_rules(options: ExportOptions) -> ActionRules:
    from trajrec.actions import ActionRules

    return ActionRules(hover_ns=ActionRules.hover_ns if options.moves else None)


def bundle_steps(b: BundleReader, options: ExportOptions) -> BundleSteps:
    """The steps of a bundle, its actions' frames found by the screen's changes (one thumbnail decode)."""
    voice = b.voiceover()
    return to_steps(b, b.actions(export_rules(options)), voice.spans if voice is not None else [], options)


def to_steps(
    b: BundleReader, actions: Sequence[Action], speech: list[tuple[int, int]], options: ExportOptions
) -> BundleSteps:
    """The step records of `actions` (with their frames chosen), in order, markers left out unless asked for."""
    span_id = {span: i for i, span in enumerate(speech)}
    region = _region(b)
    start = b.start_ns
    ext = options.image_format
    out = BundleSteps(meta(b, speech, options))
    frames: set[int] = set()
    for a in actions:
        if not included(a, options):
            continue
        at, to = _norm(region, a.x, a.y), _norm(region, a.to_x, a.to_y)
        record = {
            "step": len(out.steps),
            "t_ns": a.start_ns,
            "end_ns": a.end_ns,
            "t_s": round((a.start_ns - start) / 1e9, 3),
            "utc": utc_iso(b.utc_ns(a.start_ns)),
            "kind": a.kind,
            "action": code(a, at, to),
            "x": at[0] if at else None,
            "y": at[1] if at else None,
            "structured": a.to_json(),
            "app": a.app,
            "title": a.title,
            "element": a.element,
            "narration": [span_id[s] for s in a.narration if s in span_id],
            "screenshot_before": None,
            "screenshot_after": None,
        }
        for key, index in (("screenshot_before", a.frame_before), ("screenshot_after", a.frame_after)):
            if index is not None:
                record[key] = out.frame_name(index, ext)
                frames.add(index)
        out.steps.append(record)
    out.frames = sorted(frames)
    return out


def included(a: Action, options: ExportOptions) -> bool:
    return a.kind != "marker" or options.markers


def meta(b: BundleReader, speech: list[tuple[int, int]], options: ExportOptions) -> dict[str, Any]:
    m = b.manifest
    task = m.get("task") or {}
    screen = m["streams"]["screen"]
    start = b.start_ns
    return {
        "export": {"format": "trajrec-steps", "version": EXPORT_VERSION, "image_format": options.image_format,
                   "max_width": options.max_width},
        "source": {"session_id": b.session_id, "manifest_sha256": b.manifest_sha256, "status": m["status"],
                   "format_version": m.get("format_version"), "recorder": m.get("recorder")},
        "task": {"id": task.get("id"), "title": task.get("title"), "instruction": task.get("instruction")},
        "expert": task.get("expert"),
        "start_utc": utc_iso(b.utc_ns(start)),
        "duration_s": round((b.end_ns - start) / 1e9, 3),
        "screenshot": {"width": screen.get("width"), "height": screen.get("height"), "region": _region(b)},
        "displays": m["environment"]["displays"],
        "narration": [
            {"id": i, "start_ns": s0, "end_ns": s1, "t_s": round((s0 - start) / 1e9, 3),
             "end_s": round((s1 - start) / 1e9, 3)}
            for i, (s0, s1) in enumerate(speech)
        ],
    }


def encode_image(image: np.ndarray | Any, options: ExportOptions) -> bytes:
    """A screenshot (an RGB array, or a decoded av.VideoFrame) in the export's image format, downscaled to max_width
    when wider. PNG by FFmpeg's encoder without prediction at zlib level 1 (lossless either way; about twice as fast
    as Pillow's adaptive filters for the same size on screen content), WebP lossless, JPEG at quality 90 (Pillow).
    """
    import av

    frame = av.VideoFrame.from_ndarray(image, format="rgb24") if isinstance(image, np.ndarray) else image
    if frame.format.name != "rgb24":  # a decoded frame (yuv420p): converted here, on the encoder's thread
        frame = frame.reformat(format="rgb24")
    if options.max_width and frame.width > options.max_width:
        h = max(2, round(frame.height * options.max_width / frame.width))
        frame = frame.reformat(width=options.max_width, height=h, interpolation="AREA")
    if options.image_format == "png":
        cc = av.CodecContext.create("png", "w")
        cc.width, cc.height, cc.pix_fmt = frame.width, frame.height, "rgb24"
        cc.options = {"compression_level": "1", "pred": "none"}
        return b"".join(bytes(p) for p in [*cc.encode(frame), *cc.encode(None)])
    from PIL import Image

    img = Image.fromarray(frame.to_ndarray(format="rgb24"))
    buf = io.BytesIO()
    if options.image_format == "webp":
        img.save(buf, format="WEBP", lossless=True, method=0)
    else:
        img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()
