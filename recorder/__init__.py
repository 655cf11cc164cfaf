"""The experts' side: capture an expert's screen, input and voiceover on one clock, seal it as a bundle."""

from trajrec import __version__

__all__ = ["__version__"]
