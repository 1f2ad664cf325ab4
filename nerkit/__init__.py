"""nerkit: composable Chinese medical named-entity recognition."""

from .registry import registry
from .types import Entity, Example


def load(path, device: str = "auto", backend: str = "auto"):
    """Load a trained (or exported) model directory: ``nlp = nerkit.load("runs/q/model-best")``."""
    from .pipeline import load as _load

    return _load(path, device=device, backend=backend)


__version__ = "0.1.0"

__all__ = ["registry", "load", "Entity", "Example", "__version__"]
