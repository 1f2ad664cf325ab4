"""Imports every module that registers a built-in component.

One import per module; the registry imports this lazily on first lookup.
"""

# ruff: noqa: F401
from .data import readers
from .models import ner_model
from .models.encoders import transformer
from .data.schemes import bio, nested_bio, spans
from .models.decoders import linear
from .training import adversarial, loggers, optimizers, schedules
