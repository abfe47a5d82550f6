"""Errors a user can act on.

Every error raised for bad input is a :class:`StreamReidError`; the CLI prints
its message as one line and exits non-zero, never with a traceback.
"""

from __future__ import annotations


class StreamReidError(Exception):
    """Base class: the message is a complete, user-facing sentence."""


class SourceError(StreamReidError):
    """A video source cannot be opened or read."""


class WeightsError(StreamReidError):
    """Model weights cannot be found, fetched or loaded."""


class StoreError(StreamReidError):
    """A run directory or its Zarr store is missing or unreadable."""


class SelectionError(StreamReidError):
    """A person selection names unknown persons or a wrong directory."""
