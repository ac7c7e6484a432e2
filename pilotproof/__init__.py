"""pilotproof — the command line, the web service and the demo wiring."""

from pilotproof._version import __version__

__all__ = ["__version__"]
