"""nerkit: composable Chinese medical named-entity recognition."""

from .about import __version__
from .registrations import populate as _populate
from .registry import registry
from .types import Entity, Example

# Built-ins register on the first registry lookup (not on import): nerkit/registrations.py.
registry.populate_hook = staticmethod(_populate)


def load(path, device: str = "auto", backend: str = "auto"):
    """Load a trained (or exported) model directory: ``nlp = nerkit.load("runs/q/model-best")``."""
    from .loading import load as _load

    return _load(path, device=device, backend=backend)


__all__ = ["registry", "load", "Entity", "Example", "__version__"]
