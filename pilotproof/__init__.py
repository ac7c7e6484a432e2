"""pilotproof — the command line and the demo wiring; nothing else lives here."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pilotproof")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
