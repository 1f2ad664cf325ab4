"""nerkit: composable Chinese medical named-entity recognition."""

from .registry import registry
from .types import Entity, Example

__version__ = "0.1.0"

__all__ = ["registry", "Entity", "Example", "__version__"]
