"""Imports every module that registers a built-in component.

One import per module; the registry imports this lazily on first lookup.
"""

# ruff: noqa: F401
from .data import readers
from .data.schemes import bio, nested_bio, spans
from .models.decoders import linear
