"""Component registries (core: imports no nerkit module but ``errors``).

Every configurable piece of nerkit is a function registered under a versioned
name in one of the catalogue registries of ``registry``. Built-in components
are listed in ``nerkit/registrations.py`` (one line each) and registered when
a consumer (config resolution, model loading, ``nerkit registry``) calls
``nerkit.registrations.populate()``, or on the first lookup through
``registry.get``/``has`` (``populate_hook``); importing a module registers nothing.

Each registry also reads the entry-point group ``nerkit_<kind>``, so that other
installed packages add components the same way (see docs/plugins.md).

A registered builder says which of its arguments name files or folders with
:func:`file_args`, next to its definition; the missing-files check
(``nerkit/assets.py``) and the save step (``meta.json``'s ``files``, ``nerkit/models/io.py``)
read that, for built-ins and plugins alike.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

import catalogue
import confection

from .errors import UnknownComponentError


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
    averaging = catalogue.create("nerkit", "averaging", entry_points=True)
    optimizers = catalogue.create("nerkit", "optimizers", entry_points=True)
    schedules = catalogue.create("nerkit", "schedules", entry_points=True)
    loggers = catalogue.create("nerkit", "loggers", entry_points=True)
    models = catalogue.create("nerkit", "models", entry_points=True)
    maskers = catalogue.create("nerkit", "maskers", entry_points=True)
    samplers = catalogue.create("nerkit", "samplers", entry_points=True)
    spaces = catalogue.create("nerkit", "spaces", entry_points=True)
    pruners = catalogue.create("nerkit", "pruners", entry_points=True)

    populated = False  # set by nerkit.registrations.populate()
    # nerkit/__init__.py sets this to nerkit.registrations.populate, so that a lookup
    # (never an import) registers the built-ins on first use, as spaCy 3.8 does.
    populate_hook: Optional[Callable[[], None]] = None

    @classmethod
    def ensure_populated(cls) -> None:
        if not cls.populated and cls.populate_hook is not None:
            cls.populate_hook()

    @classmethod
    def kinds(cls) -> Tuple[str, ...]:
        """The registry names, in declaration order (derived from the class)."""
        return tuple(k for k, v in vars(cls).items() if isinstance(v, catalogue.Registry))

    @classmethod
    def get(cls, registry_name: str, func_name: str) -> Callable:
        """Look up ``func_name`` in ``registry_name``; UnknownComponentError if absent."""
        cls.ensure_populated()
        if registry_name not in cls.kinds():
            raise UnknownComponentError(
                f"Unknown registry '@{registry_name}'{_suggest(registry_name, cls.kinds())}. "
                f"nerkit has these kinds: {', '.join('@' + k for k in cls.kinds())}."
            )
        reg: catalogue.Registry = getattr(cls, registry_name)
        loaded, broken = _entry_points(registry_name, func_name)
        if broken:
            raise UnknownComponentError(broken[0].message())
        if loaded:
            return loaded[func_name]
        if func_name not in reg:
            raise UnknownComponentError(unknown_name_message(registry_name, func_name))
        return reg.get(func_name)

    @classmethod
    def has(cls, registry_name: str, func_name: str) -> bool:
        cls.ensure_populated()
        if registry_name not in cls.kinds():
            return False
        loaded, broken = _entry_points(registry_name, func_name)
        return bool(loaded) or (not broken and func_name in getattr(cls, registry_name))


KINDS: Tuple[str, ...] = registry.kinds()


@dataclass(frozen=True)
class BrokenPlugin:
    """An entry point of an installed package that fails to load."""

    kind: str
    name: str
    value: str  # "module:function"
    package: str
    error: str

    def describe(self) -> str:
        return (
            f"entry point '{self.name} = {self.value}' (group nerkit_{self.kind}) of the package "
            f"{self.package} fails to load: {self.error}"
        )

    def message(self) -> str:
        """What a config that uses the component is told."""
        return (
            f"'{self.name}' comes from the installed package {self.package}, whose entry point "
            f"'{self.name} = {self.value}' (group nerkit_{self.kind}) fails to load: {self.error}. Fix or reinstall that package (pip install --force-reinstall "
            f"{self.package}), or uninstall it (pip uninstall {self.package}) and use another "
            f"component; `nerkit registry {self.kind}` lists the ones that load."
        )


def _entry_points(
    kind: str, name: Optional[str] = None
) -> Tuple[Dict[str, Any], List[BrokenPlugin]]:
    """The loaded entry points of ``kind`` (only ``name`` when given) and those that fail."""
    loaded: Dict[str, Any] = {}
    broken: List[BrokenPlugin] = []
    available = catalogue.AVAILABLE_ENTRY_POINTS  # the snapshot catalogue itself reads
    group = f"nerkit_{kind}"
    eps = (
        available.select(group=group) if hasattr(available, "select") else available.get(group, [])
    )
    for ep in eps:
        if name is not None and ep.name != name:
            continue
        try:
            loaded[ep.name] = ep.load()
        except Exception as err:  # a plugin's own bug or missing module: reported, never raised
            dist = getattr(ep, "dist", None)
            package = dist.name if dist is not None else ep.value.split(":")[0].split(".")[0]
            broken.append(
                BrokenPlugin(kind, ep.name, ep.value, package, f"{type(err).__name__}: {err}")
            )
    return loaded, broken


def broken_plugins(kind: Optional[str] = None, name: Optional[str] = None) -> List[BrokenPlugin]:
    """Installed entry points (of ``kind``, or of every kind; only ``name`` when given) that
    fail to load; ``nerkit registry`` and ``nerkit info`` list them and go on."""
    return [b for k in ((kind,) if kind else KINDS) for b in _entry_points(k, name)[1]]


def names(kind: str) -> List[str]:
    """All names registered for ``kind``, entry-point plugins included (those that load)."""
    return sorted(get_all(kind))


def get_all(kind: str) -> Dict[str, Any]:
    """Name -> function of ``kind``: the built-ins and every entry point that loads (a broken
    plugin is left out, see :func:`broken_plugins`)."""
    registry.ensure_populated()
    namespace = getattr(registry, kind).namespace
    found = _entry_points(kind)[0]
    for keys, value in catalogue.REGISTRY.copy().items():
        if keys[:-1] == namespace:
            found[keys[-1]] = value
    return dict(sorted(found.items()))


def name_of(kind: str, func: Callable[..., Any]) -> str:
    """The name ``func`` is registered under in ``kind`` (the first, sorted, if several), so a
    component names itself in its messages as its config does; ``func.__name__`` if it is
    not registered (a builder called directly, outside any config)."""
    registry.ensure_populated()
    namespace = getattr(registry, kind).namespace
    found = sorted(
        k[-1] for k, v in catalogue.REGISTRY.items() if k[:-1] == namespace and v is func
    )
    if not found:  # a plugin's, registered by an entry point
        found = sorted(name for name, v in _entry_points(kind)[0].items() if v is func)
    return found[0] if found else func.__name__


F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class FileArg:
    """An argument of a registered builder that names a file or folder the component reads.

    kind: "file", "dir", or "path" (either). what: what it is, for messages.
    needs: files a folder must hold. source: where to get it (optional; ``{path}``
    stands for the configured path), quoted when the file is missing.
    """

    kind: str = "file"
    what: str = ""
    needs: Tuple[str, ...] = ()
    source: str = ""


def file_args(**args: FileArg) -> Callable[[F], F]:
    """Declare which arguments of a builder name files or folders (a local-looking value
    of such an argument is checked before a run starts, with every other missing file)::

        @file_args(vocab_path=FileArg("file", "character vocabulary"))
        def char_encoder(vocab_path: Optional[str] = None, width: int = 24) -> CharEncoder: ...

    It registers nothing: the builder is registered as usual (``nerkit/registrations.py``
    or an entry point), and the declaration travels with the function.
    """

    def declare(func: F) -> F:
        func.file_args = {**declared_file_args(func), **args}  # type: ignore[attr-defined]
        return func

    return declare


def declared_file_args(func: Any) -> Dict[str, FileArg]:
    """The file arguments ``func`` declares with :func:`file_args` (none: empty)."""
    found = getattr(func, "file_args", None)
    return dict(found) if isinstance(found, dict) else {}


def _suggest(name: str, options: Any) -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f" (did you mean '@{close[0]}'?)" if close else ""


def unknown_name_message(kind: str, name: str) -> str:
    available = names(kind)
    close = difflib.get_close_matches(name, available, n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    listing = ", ".join(available) if available else "(none)"
    fix = (
        "Fix the name in the config, or install the package that provides it (plugins "
        f"register under the entry-point group 'nerkit_{kind}')."
    )
    if not registry.populated:
        fix += (
            " nerkit's built-in components are not registered in this process yet: call "
            "nerkit.registrations.populate() first (config loading, nerkit.load and the CLI do)."
        )
    return (
        f"Can't find '{name}' in the '{kind}' registry.{hint} Registered {kind}: {listing}. {fix}"
    )
