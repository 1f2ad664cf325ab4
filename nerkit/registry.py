"""Component registries.

Every configurable piece of nerkit is a function registered under a versioned
name in one of the catalogue registries below, e.g.::

    @registry.decoders("nerkit.LinearDecoder.v1")
    def linear_decoder(...): ...

Each registry reads the entry-point group ``nerkit_<kind>`` so that other
installed packages can add components (see docs/plugins.md).
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Dict, List

import catalogue
import confection

KINDS = (
    "encoders",
    "segmenters",
    "vectors",
    "lexicons",
    "fusions",
    "decoders",
    "label_schemes",
    "readers",
    "writers",
    "adversarial",
    "optimizers",
    "schedules",
    "loggers",
    "models",
)


class UnknownComponentError(LookupError):
    """Raised when a config asks for a name that no registry holds."""


class registry(confection.registry):
    encoders = catalogue.create("nerkit", "encoders", entry_points=True)
    segmenters = catalogue.create("nerkit", "segmenters", entry_points=True)
    vectors = catalogue.create("nerkit", "vectors", entry_points=True)
    lexicons = catalogue.create("nerkit", "lexicons", entry_points=True)
    fusions = catalogue.create("nerkit", "fusions", entry_points=True)
    decoders = catalogue.create("nerkit", "decoders", entry_points=True)
    label_schemes = catalogue.create("nerkit", "label_schemes", entry_points=True)
    readers = catalogue.create("nerkit", "readers", entry_points=True)
    writers = catalogue.create("nerkit", "writers", entry_points=True)
    adversarial = catalogue.create("nerkit", "adversarial", entry_points=True)
    optimizers = catalogue.create("nerkit", "optimizers", entry_points=True)
    schedules = catalogue.create("nerkit", "schedules", entry_points=True)
    loggers = catalogue.create("nerkit", "loggers", entry_points=True)
    models = catalogue.create("nerkit", "models", entry_points=True)

    @classmethod
    def get(cls, registry_name: str, func_name: str) -> Callable:
        """Look up ``func_name`` in ``registry_name`` with a helpful error."""
        _import_builtins()
        if registry_name not in KINDS or not hasattr(cls, registry_name):
            raise UnknownComponentError(
                f"Unknown registry '@{registry_name}'. nerkit has these kinds: "
                f"{', '.join('@' + k for k in KINDS)}."
            )
        reg: catalogue.Registry = getattr(cls, registry_name)
        if func_name not in reg:
            raise UnknownComponentError(unknown_name_message(registry_name, func_name))
        return reg.get(func_name)

    @classmethod
    def has(cls, registry_name: str, func_name: str) -> bool:
        _import_builtins()
        return super().has(registry_name, func_name)


def names(kind: str) -> List[str]:
    """All names registered for ``kind``, entry-point plugins included."""
    _import_builtins()
    return sorted(getattr(registry, kind).get_all())


def get_all(kind: str) -> Dict[str, Any]:
    _import_builtins()
    return dict(sorted(getattr(registry, kind).get_all().items()))


def unknown_name_message(kind: str, name: str) -> str:
    available = names(kind)
    close = difflib.get_close_matches(name, available, n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    listing = ", ".join(available) if available else "(none)"
    return (
        f"Can't find '{name}' in the '{kind}' registry.{hint} Registered {kind}: "
        f"{listing}. Fix the name in the config, or install the package that "
        f"provides it (plugins register under the entry-point group 'nerkit_{kind}')."
    )


_BUILTINS_IMPORTED = False


def _import_builtins() -> None:
    """Import the modules that register nerkit's own components (once)."""
    global _BUILTINS_IMPORTED
    if _BUILTINS_IMPORTED:
        return
    _BUILTINS_IMPORTED = True
    from . import components  # noqa: F401
