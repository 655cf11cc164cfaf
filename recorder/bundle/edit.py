"""Deprecated alias of `recorder.sealing.edit` (warns once; goes away in the next release)."""

import sys

from recorder.bundle import moved

sys.modules[__name__] = moved("edit")
