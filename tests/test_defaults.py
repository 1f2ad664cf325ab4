"""Defaults live in one place: the registered builder's signature.

A component class built by a registered builder takes explicit arguments: a
default written again on the class would be a second copy that can drift from
the builder's (as ``NestedBIOScheme`` and ``nerkit.NestedBIO.v1`` once did).
"""

from __future__ import annotations

import inspect
from typing import Dict, List, Tuple

from nerkit.registrations import populate
from nerkit.registry import registry


def _module_classes(func) -> List[type]:
    """Classes defined in the builder's module (the component and its helpers)."""
    module = inspect.getmodule(func)
    return [
        cls
        for cls in vars(module).values()
        if inspect.isclass(cls) and cls.__module__ == module.__name__
    ]


def duplicated_defaults() -> Dict[str, List[Tuple[str, str]]]:
    """component name -> [(class, parameter)] where the class repeats a builder default."""
    populate()
    kinds = registry.kinds()
    found: Dict[str, List[Tuple[str, str]]] = {}
    for kind in kinds:
        for name, func in getattr(registry, kind).get_all().items():
            builder = inspect.signature(func).parameters
            for cls in _module_classes(func):
                for pname, param in inspect.signature(cls.__init__).parameters.items():
                    if param.default is not inspect.Parameter.empty and pname in builder:
                        found.setdefault(name, []).append((cls.__qualname__, pname))
    return found


def test_classes_repeat_no_builder_default():
    assert duplicated_defaults() == {}


def test_check_finds_a_readded_default(monkeypatch):
    from nerkit.models.decoders.linear import LinearDecoder

    original = LinearDecoder.__init__

    def with_default(self, scheme, input_dim, dropout=0.2, decoding="strict"):
        original(self, scheme, input_dim, dropout, decoding)

    monkeypatch.setattr(LinearDecoder, "__init__", with_default)
    found = duplicated_defaults()
    assert ("LinearDecoder", "dropout") in found["nerkit.LinearDecoder.v1"]
    assert ("LinearDecoder", "decoding") in found["nerkit.LinearDecoder.v1"]


def test_nested_bio_builder_takes_any_labels():
    """The class and the builder once disagreed: the builder demanded every CMeEE type."""
    scheme = registry.get("label_schemes", "nerkit.NestedBIO.v1")(labels=["sym", "dis"])
    assert scheme.layers == (("sym",), ("dis",))
    assert [scheme.layer_tags(k) for k in range(2)] == [
        ["O", "B-sym", "I-sym"],
        ["O", "B-dis", "I-dis"],
    ]
