"""Trajectory recorder: capture an expert's screen, input and voiceover on one clock as a bundle."""

__version__ = "0.1.0"
