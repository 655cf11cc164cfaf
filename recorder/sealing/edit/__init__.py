"""Editing a sealed bundle (the review screen): trim its start and/or end, and edit markers' notes.

A sealed bundle is never changed in place: `edit_bundle` writes a new sealed bundle (tables, media,
log, then the manifest last, every file fsynced and checksummed) and only then swaps it in.

Trim semantics (also in schemas/README.md, "Edited bundles"):

- The kept span is ``[start, end]`` on the session clock. ``start_ns`` is snapped FORWARD to the grab
  time of the first keyframe at or after it, so the video starts decodable and nothing grabbed
  before the requested start survives (privacy: the expert cut it). ``end_ns`` is kept as asked;
  frames grabbed after it are dropped. Values outside the session are clamped to it; a start at or
  before the session start (or None) trims nothing there, and is not snapped.
- Video: the kept packets are copied (never re-encoded) into a new MP4; their pts are recomputed
  from the grab times as the recorder does (``(t_ns - t0_ns)`` in whole ms, +1 ms on a tie), so the
  first kept frame has pts 0 and ``streams.screen.t0_ns`` is its grab time. ``frames.parquet`` is
  filtered and re-indexed from 0. Decoded images are identical to the source's.
- Events, window records and markers with ``start <= t_ns <= end`` are kept; event ``seq`` is
  renumbered 0..n-1. A release (``up``/``key_up``) whose press was cut is dropped too: it would name
  a key typed in the cut part, and the validator accepts its absence. A press whose release was cut
  at the end is kept (a key held at the stop, which the format allows).
- The window record in effect at ``start`` (the latest one at or before it) is re-emitted at
  ``start`` when it lies in the cut part, so ``BundleReader.window_at`` answers the same for every
  kept time. Likewise the display layout in effect at ``start`` becomes ``environment.displays``.
- Clock: a ``start`` anchor at the new start, and the ``stop`` anchor (when the source has one) at the
  new end, with UTC extrapolated from the anchor before (so ``utc_ns(t)`` is unchanged for every kept
  ``t``). A pause cut in two keeps its kept part: a pause running at the new start gets a ``pause``
  anchor and marker there; one running at the new end loses its resume and lasts until the end.
- Audio: the FLAC samples whose times (``first_sample_t_ns + i * 1e9 / clock_rate_hz``) lie in the
  span are copied bit-exactly; ``first_sample_t_ns`` moves to the first kept sample and
  ``clock_rate_hz`` is kept, so every kept sample keeps its time (to 0.5 ns).
- ``raw/session.mcap`` is rewritten (with the recorder's own log writer) holding only the kept
  records, as the tables and manifest describe them: trimmed content survives nowhere in the bundle.
  Audio block records are re-based to the new FLAC (``first_sample``, clipped ``gap_samples``).
- Stats are recomputed with the sealer's helpers; ``status``, ``notes``, ``created_utc``, ``task`` and
  the format version are kept. Each edit appends to the manifest's ``edits`` list.

Marker notes: ``marker_notes`` maps an index into the source bundle's marker list, as
``BundleReader.markers()`` returns it (the 0-based line number in ``markers.jsonl``, which is sorted by
``t_ns``), to the marker's new text. Indices are those of the bundle before this edit's trim; a marker
the same call trims away is accepted and has no effect. Only ``step`` and ``note`` markers have text.
A notes-only edit rewrites ``markers.jsonl`` and the manifest; every other file is byte-identical
(``raw/session.mcap`` keeps the texts as recorded).

In place (``out=None``): the new bundle is written to ``.<name>.edit-partial`` beside the bundle, then
``<name>`` is renamed to ``.<name>.edit-old``, the new one to ``<name>``, and the old one deleted. A
failure at any step leaves the old bundle in place; a crash leaves one whole bundle under one of
those names, which `finish_interrupted_edit` (run at the start of every in-place edit) puts back.

Redactions (hide a span, cover a box, mute the voiceover) are `redact_bundle`; their rules are in `redact`.

The package: `plan` (the request checked, the span snapped), `trim` (the records cut), `media` (video and
audio cut), `write` (the new bundle staged), `redact` and `regop` (redactions, and the GOPs they re-encode),
`swap` (`edit_bundle`, `redact_bundle`, and the crash-safe swap).
"""

from __future__ import annotations

from recorder.errors import BundleEditError
from recorder.sealing.edit.plan import MAX_NOTE_CHARS, trim_span
from recorder.sealing.edit.redact import Box, Hide, Mute, Redaction
from recorder.sealing.edit.swap import (
    BACKUP_SUFFIX,
    STAGE_SUFFIX,
    backup_path,
    edit_bundle,
    finish_interrupted_edit,
    redact_bundle,
    stage_path,
)

__all__ = [
    "BACKUP_SUFFIX",
    "MAX_NOTE_CHARS",
    "STAGE_SUFFIX",
    "Box",
    "BundleEditError",
    "Hide",
    "Mute",
    "Redaction",
    "backup_path",
    "edit_bundle",
    "finish_interrupted_edit",
    "redact_bundle",
    "stage_path",
    "trim_span",
]
