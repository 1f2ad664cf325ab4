"""Imports every module that registers a built-in component.

One import per module; the registry imports this lazily on first lookup.
"""

# ruff: noqa: F401
from .data import readers
from .data.formats import brat, ccks, cmeee, conll, doccano, label_studio
from .data.schemes import bio, nested_bio, spans
from .lexicon import cache, coverage, lexicon, matcher, pkuseg, union, word2vec
from .models import ner_model
from .models.decoders import crf, efficient_global_pointer, global_pointer, linear
from .models.encoders import transformer
from .models.fusion import concat, flat, flat_light, identity
from .training import adversarial, loggers, optimizers, schedules
