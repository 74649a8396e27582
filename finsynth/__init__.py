"""finsynth: build, audit and use SFT data for Chinese financial-report metric extraction."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("finsynth")
except PackageNotFoundError:  # running from a checkout without an install
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
