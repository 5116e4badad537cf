"""Turnout's engine: policy, routing, the HTTP shell and the state store."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("turnout")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
