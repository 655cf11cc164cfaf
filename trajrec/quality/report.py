"""One bundle's quality report: its measurements, its grade under a policy, the figures of the HTML page, and the
sidecar file that stores them beside the bundle (never inside it: a sealed bundle does not change).

    with trajrec.open(path) as b:
        entry = trajrec.quality.report.report(b, policy)
    entry.grade.grade, entry.grade.reasons, entry.quality["narration"]["coverage"]
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trajrec.paths import write_private
from trajrec.quality.metrics import QUALITY_VERSION, Measured, QualityRules, measure
from trajrec.quality.policy import DEFAULT, Grade, Policy

if TYPE_CHECKING:
    from trajrec.reader import BundleReader

SIDECAR_SUFFIX = ".quality.json"
SIDECAR_FORMAT = "trajrec-quality"
MAX_SHOTS = 12  # screenshots per bundle page: the frames at its first step and note markers
SHOT_WIDTH = 480


@dataclass
class Figures:
    """What the HTML page draws, in seconds from the session's start."""

    duration_s: float
    actions: list[tuple[str, float, float]] = field(default_factory=list)  # kind, start, end
    speech: list[tuple[float, float]] = field(default_factory=list)
    idle: list[tuple[float, float]] = field(default_factory=list)
    pauses: list[tuple[float, float]] = field(default_factory=list)
    markers: list[tuple[float, str, str]] = field(default_factory=list)  # t, kind, text
    level_t0_s: float = 0.0
    level_step_s: float = 0.1
    level_dbfs: list[float] = field(default_factory=list)
    shots: list[tuple[float, str, bytes]] = field(default_factory=list)  # t, marker text, JPEG


@dataclass
class Entry:
    """One bundle in a report: where it is, its measurements and grade, or the error that stopped them."""

    location: str
    quality: dict[str, Any] | None = None
    grade: Grade | None = None
    figures: Figures | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)  # for the run's user (a sidecar that could not be written)

    def to_row(self) -> dict[str, Any]:
        """The entry as a row of `trajrec.results.REPORT` (the whole quality record as JSON)."""
        q = self.quality or {}
        return {
            "location": self.location,
            "grade": self.grade.grade if self.grade else None,
            "policy": self.grade.policy if self.grade else None,
            "reasons": self.grade.reasons if self.grade else [],
            "error": self.error,
            "session_id": q.get("session_id"),
            "duration_s": q.get("duration_s"),
            "active_s": q.get("active_s"),
            "narration_coverage": (q.get("narration") or {}).get("coverage"),
            "actions_per_active_minute": (q.get("actions") or {}).get("per_active_minute"),
            "max_gap_s": (q.get("frames") or {}).get("max_gap_s"),
            "quality": json.dumps(q) if q else None,
        }

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"location": self.location}
        if self.error is not None:
            out["error"] = self.error
        if self.grade is not None:
            out.update(self.grade.to_json())
        if self.quality is not None:
            out["quality"] = self.quality
        return out


def report(
    b: BundleReader,
    policy: Policy = DEFAULT,
    *,
    figures: bool = False,
    rules: QualityRules | None = None,
    location: str | None = None,
) -> Entry:
    m = measure(b, rules)
    return Entry(
        location or b.source.location,
        m.quality,
        policy.grade(m.quality),
        make_figures(b, m) if figures else None,
    )


def make_figures(b: BundleReader, m: Measured) -> Figures:
    start = b.start_ns

    def rel(t: int) -> float:
        return round((t - start) / 1e9, 3)

    f = Figures(duration_s=rel(b.end_ns))
    f.actions = [(a.kind, rel(a.start_ns), rel(a.end_ns)) for a in m.actions if a.kind not in ("marker", "move")]
    f.idle = [(rel(a), rel(z)) for a, z in m.idle]
    f.pauses = [(rel(a), rel(z)) for a, z in b.pauses()]
    f.markers = [(q["t_s"], q["kind"], q["text"] or "") for q in m.quality["markers"]]
    if m.voice is not None:
        f.speech = [(rel(a), rel(z)) for a, z in m.voice.spans]
        f.level_t0_s = rel(m.voice.level_t0_ns)
        f.level_step_s = m.voice.level_step_ns / 1e9
        f.level_dbfs = list(m.voice.level_dbfs)
    if b.has_screen:
        for t, _, text in f.markers[:MAX_SHOTS]:
            i = b.frame_index_at(start + round(t * 1e9))
            if i is not None:
                f.shots.append((t, text, _jpeg(b.frame(i))))
    return f


def _jpeg(rgb: Any) -> bytes:
    from PIL import Image

    img = Image.fromarray(rgb)
    if img.width > SHOT_WIDTH:
        img = img.resize((SHOT_WIDTH, max(1, round(img.height * SHOT_WIDTH / img.width))), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


# --- the sidecar ------------------------------------------------------------------------------------------------
def sidecar_path(location: str | Path) -> Path:
    """Beside the bundle: <bundle dir or archive>.quality.json."""
    p = Path(location)
    return p.with_name(p.name.rstrip("/") + SIDECAR_SUFFIX)


def sidecar_json(entry: Entry) -> dict[str, Any]:
    from trajrec import __version__

    assert entry.quality is not None and entry.grade is not None
    return {
        "format": SIDECAR_FORMAT,
        "version": QUALITY_VERSION,
        "generator": {"name": "trajrec", "version": __version__},
        "quality": entry.quality,
        "grade": entry.grade.to_json(),
    }


def write_sidecar(entry: Entry, path: Path) -> None:
    """Atomically, 0600 (it is about an expert's work), never through a link at `path`."""
    write_private(path, json.dumps(sidecar_json(entry), indent=1) + "\n")


def read_sidecar(path: Path, manifest_sha256: str) -> dict[str, Any] | None:
    """A sidecar's quality record when it was made by this version for this exact bundle, else None."""
    from trajrec.paths import open_regular

    try:
        with open_regular(path, where=str(path.parent), name=path.name) as f:
            data = json.loads(f.read(4_000_000))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT or data.get("version") != QUALITY_VERSION:
        return None
    quality = data.get("quality")
    if not isinstance(quality, dict) or quality.get("manifest_sha256") != manifest_sha256:
        return None
    return quality
