"""The live session log's topics (raw/session.mcap): one enum, next to the format that documents them.

The recorder writes every timestamped record to one of these MCAP channels while recording; sealing,
repair and edits read them back. Labs reading raw/session.mcap see the same names.
"""

from __future__ import annotations

import enum


class Topic(enum.StrEnum):
    ANCHOR = "/clock/anchor"  # a UTC anchor pair (start, pause, resume, stop)
    FRAME = "/screen/frame"  # a frame handed to the encoder
    DROPPED = "/screen/dropped"  # frames dropped by a full queue
    EVENT = "/input/event"  # an input event
    WINDOW = "/context/window"  # the focused window changed
    MARKER = "/marker"  # step, note, pause, resume
    AUDIO = "/audio/block"  # a block of voiceover samples was written (time, count, gaps)
    LAYOUT = "/screen/layout"  # the displays and the recorded region
    ELEMENT = "/context/element"  # since 1.1: an accessibility element (focus change, click target)
    PRIVACY = "/privacy/span"  # since 1.1: a span in which a privacy guard removed keys, or input and frames
    GUARDS = "/privacy/guards"  # since 1.1: which privacy guards ran (accessibility, deny-list)
