"""Deprecated alias of `trajrec.validation` (warns once; goes away in the next release)."""

import sys

from recorder.bundle import moved

sys.modules[__name__] = moved("validate")
