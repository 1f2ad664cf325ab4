"""Label schemes: entities <-> training targets (registered under ``label_schemes``)."""

from .bio import BIOScheme, TagSpans
from .nested_bio import NestedBIOScheme
from .spans import SpanLabelScheme

__all__ = ["BIOScheme", "NestedBIOScheme", "SpanLabelScheme", "TagSpans"]
