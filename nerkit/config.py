"""Loading, extending, overriding and validating config files.

A config is a confection ``.cfg`` file. nerkit adds three things on top:

* ``[nerkit] extends = "base.cfg"``: a file can extend another one (paths are
  relative to the extending file). Sections are merged key by key; a section
  whose ``@registry`` function differs from the base's replaces it whole.
* Relative paths written in a file (every ``[paths]`` value, and ``[corpora]``
  ``train``/``dev``/``test``) are relative to that file's folder, as docker
  compose does with its file, so a config works from any working directory;
  values with a ``${...}`` reference follow what they refer to. Where nothing
  exists there but the path exists in the nerkit checkout (the quickstart's
  ``projects/quickstart/...``), that is taken, so a copied config still finds
  the sample files. Paths given as overrides (the command line) stay relative
  to the working directory.
* CLI overrides in spaCy's style: ``--training.max_epochs 3``.
* Validation before anything is built: every ``@kind = "name"`` reference is
  checked against the registries, every argument against the function's
  signature, and the settings sections (``[paths]``, ``[system]``,
  ``[corpora]``, ``[training]``) against pydantic models that forbid unknown
  keys. Every error names its config path, e.g.
  ``model.decoder.dropout: expected float, got "high"``.
* An ``[initialize]`` section (spaCy's split) for resources needed only to
  initialise a new model: ``[initialize.model.<path>]`` holds arguments of the
  component block ``[model.<path>]`` (pretrained weights, word-vector files,
  segmentation models, word lists), usually via ``[paths]``. Training resolves
  ``[model]`` with them overlaid; loading a model directory resolves ``[model]``
  alone and restores the components' assets with ``from_disk``.
"""

from __future__ import annotations

import difflib
import inspect
import json
import logging
import os
import typing
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

from confection import Config, ConfigValidationError
from confection.validation import validate_type
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError, UnknownComponentError
from .registrations import populate
from .registry import KINDS, registry
from .util import looks_local

logger = logging.getLogger(__name__)

SETTINGS_SECTIONS = ("paths", "system", "corpora", "training")
INIT_SECTION = "initialize"
# Settings that hold file-system paths, resolved against the folder of the file that
# writes them (None: every key of the section).
FILE_PATH_SETTINGS: Dict[str, Optional[Tuple[str, ...]]] = {
    "paths": None,
    "corpora": ("train", "dev", "test"),
}
# The source checkout nerkit runs from (it has projects/: the quickstart corpus and tiny BERT);
# None for an installed wheel.
_CHECKOUT = Path(__file__).resolve().parents[1]
CHECKOUT: Optional[Path] = _CHECKOUT if (_CHECKOUT / "projects").is_dir() else None


# ----------------------------------------------------------------------------
# Settings schemas (pydantic, unknown keys forbidden)
# ----------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, strict=True)


class SystemSettings(_Strict):
    seed: int = 42
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", "mps"
    mixed_precision: Literal["no", "auto", "bf16", "fp16"] = "auto"
    num_threads: int = Field(0, ge=0)  # 0: leave torch's default

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        from .util import device_problem

        problem = device_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class CorporaSettings(_Strict):
    train: Optional[str] = None
    dev: Optional[str] = None
    test: Optional[str] = None
    reader: Dict[str, Any]
    max_train_records: int = 0  # 0: all; >0 keeps the first N (quick runs)
    max_dev_records: int = 0
    # dev entities whose label the model is not trained on: an error unless allowed
    # (then they are scored as missed entities)
    allow_unseen_labels: bool = False


class TrainingSettings(_Strict):
    max_epochs: int = Field(5, ge=0)  # 0: no epoch limit (then max_steps must be set)
    max_steps: int = Field(0, ge=0)  # 0: no limit; stops after this many optimizer steps
    batch_size: int = Field(16, ge=1)
    eval_batch_size: int = Field(64, ge=1)
    accumulate_gradient: int = Field(1, ge=1)
    grad_clip: float = Field(1.0, ge=0)  # 0: no clipping
    eval_frequency: int = Field(
        0, ge=0
    )  # optimizer steps between evaluations; 0: end of epoch only
    patience: int = Field(0, ge=0)  # evaluations without improvement before stopping; 0: never
    length_bucketing: bool = True
    bucket_size: int = Field(100, ge=1)  # batches per sorted bucket
    log_every: int = Field(10, ge=0)  # 0: no step lines
    optimizer: Dict[str, Any]
    schedule: Dict[str, Any]
    adversarial: Dict[str, Any]
    logger: Dict[str, Any]
    averaging: Optional[Dict[str, Any]] = None  # e.g. nerkit.EMA.v1; None: the training weights

    @model_validator(mode="after")
    def _stops(self) -> TrainingSettings:
        if self.max_epochs == 0 and self.max_steps == 0:
            raise ValueError(
                "max_epochs = 0 and max_steps = 0: training would never stop. Set max_epochs "
                "(e.g. --training.max_epochs 5) or max_steps (e.g. --training.max_steps 1000)."
            )
        return self


SETTINGS_SCHEMAS = {
    "system": SystemSettings,
    "corpora": CorporaSettings,
    "training": TrainingSettings,
}


# ----------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------


def parse_overrides(args: Sequence[str]) -> Dict[str, Any]:
    """``["--training.max_epochs", "3", "--paths.train=x.json"]`` -> dict.

    Values are parsed as JSON where possible (``3``, ``0.1``, ``true``,
    ``null``, ``["a"]``), otherwise kept as strings.
    """
    out: Dict[str, Any] = {}
    i = 0
    args = list(args)
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) <= 2:
            raise ConfigError(
                f"Can't read the override '{arg}': overrides look like "
                "'--section.key value', e.g. '--training.max_epochs 3'."
            )
        key = arg[2:]
        if "=" in key:
            key, raw = key.split("=", 1)
        else:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise ConfigError(f"The override '--{key}' has no value.")
            i += 1
            raw = args[i]
        if "." not in key:
            raise ConfigError(
                f"The override '--{key}' does not name a section: use '--section.key', "
                f"e.g. '--training.{key}'."
            )
        out[key.replace("-", "_")] = _parse_value(raw)
        i += 1
    return out


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def load_config(
    path: Union[str, Path],
    overrides: Optional[Dict[str, Any]] = None,
    interpolate: bool = False,
    strict_paths: bool = False,
) -> Config:
    """Read a config file, following ``[nerkit] extends``, and apply overrides.

    strict_paths: an override of a ``[paths]`` key the file does not define is an
        error (the command line's rule: ``--paths.trian`` is a typo, not a new path).
    """
    path = Path(path)
    raw = _load_with_bases(path, seen=())
    cfg = Config(raw, is_interpolated=False)
    if overrides:
        cfg = _apply_overrides(cfg, overrides, strict_paths)
    if interpolate:
        cfg = interpolated(cfg)
    return cfg


def interpolated(cfg: Config) -> Config:
    """``cfg`` with every ``${section.key}`` reference filled in."""
    if cfg.is_interpolated:
        return cfg
    try:
        return cfg.interpolate()
    except ConfigValidationError as err:
        detail = "; ".join(
            f"{'.'.join(str(x) for x in e.get('loc', []))}: {e.get('msg')}"
            for e in err.errors or []
        )
        raise ConfigError(
            f"Can't resolve a ${{...}} reference in the config: {detail or err.desc or err.title}"
        ) from None
    except Exception as err:  # configparser interpolation errors
        raise ConfigError(f"Can't resolve a ${{...}} reference in the config: {err}") from None


def _load_with_bases(path: Path, seen: Tuple[Path, ...]) -> Dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"Config file not found: {path}. Pass the path of a .cfg file.")
    if path.resolve() in seen:
        chain = " -> ".join(str(p) for p in (*seen, path.resolve()))
        raise ConfigError(f"Config files extend each other in a cycle: {chain}")
    try:
        cfg = Config().from_str(
            _add_parent_sections(path.read_text(encoding="utf8")), interpolate=False
        )
    except ConfigValidationError as err:
        raise ConfigError(f"{path}: can't parse the config: {err.text.strip()}") from None
    except Exception as err:  # configparser errors
        raise ConfigError(f"{path}: can't parse the config: {err}") from None
    data = _to_dict(cfg)
    _resolve_file_paths(data, Path(os.path.abspath(path)).parent)
    meta = data.pop("nerkit", {})
    base = meta.get("extends")
    if base is None:
        return data
    base_path = (path.parent / base).resolve()
    base_data = _load_with_bases(base_path, seen=(*seen, path.resolve()))
    return _merge(base_data, data)


def _resolve_file_paths(data: Dict[str, Any], folder: Path) -> None:
    """Make the relative paths a config file writes relative to its ``folder`` (in place)."""
    for section, keys in FILE_PATH_SETTINGS.items():
        values = data.get(section)
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if (keys is None or key in keys) and isinstance(value, str):
                values[key] = relative_to(value, folder, hub_ids=section == "paths")


def relative_to(value: str, folder: Union[str, Path], hub_ids: bool = False) -> str:
    """``value`` as a path from ``folder`` (absolute, ``~`` expanded), or from the nerkit
    checkout where only that one exists; ``""`` and values with a ``${...}`` reference
    unchanged. With ``hub_ids``, a Hugging Face hub id stays as written: a value that is no
    file here, is not local-looking (:func:`nerkit.util.looks_local`) and has no file
    suffix (``bert-base-chinese``, ``hfl/chinese-roberta-wwm-ext``)."""
    if not value or "${" in value:
        return value
    path = os.path.expanduser(value)
    if os.path.isabs(path):
        return path
    found = os.path.normpath(os.path.join(os.fspath(folder), path))
    if CHECKOUT is not None and not os.path.exists(found):
        bundled = os.path.normpath(os.path.join(CHECKOUT, path))
        if os.path.exists(bundled):
            return bundled
    if hub_ids and not os.path.exists(found) and not looks_local(value) and not Path(value).suffix:
        return value
    return found


def _add_parent_sections(text: str) -> str:
    """Declare missing parent sections, so a file that extends a base can set
    ``[model.decoder]`` without an empty ``[model]`` header. Each missing parent is
    declared just before the first section that needs it."""
    import re

    declared = set(re.findall(r"^\[([^\]]+)\]\s*$", text, flags=re.M))
    emitted: set = set()

    def add_parents(match: re.Match[str]) -> str:
        parts = match.group(1).split(".")
        missing = []
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if parent not in declared and parent not in emitted:
                emitted.add(parent)
                missing.append(f"[{parent}]\n\n")
        return "".join(missing) + match.group(0)

    return re.sub(r"^\[([^\]]+)\]\s*$", add_parents, text, flags=re.M)


def _to_dict(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _to_dict(v) for k, v in obj.items()}
    return obj


def _merge(
    base: Dict[str, Any],
    child: Dict[str, Any],
    where: Tuple[str, ...] = (),
    replaced: Optional[List[Tuple[str, ...]]] = None,
) -> Dict[str, Any]:
    """``child`` over ``base`` key by key; a section whose component (``@kind`` function) the
    child changes, or sets to a value, replaces the base's whole, and so does its
    ``[initialize]`` counterpart: the base's init-only arguments of the old component are
    dropped, the child's own kept. ``where``, ``replaced``: the recursion's own."""
    top = replaced is None
    replaced = [] if replaced is None else replaced
    out = dict(base)
    for key, value in child.items():
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict) and _ref(value) in (None, _ref(old)):
            out[key] = _merge(old, value, (*where, key), replaced)
        else:
            if isinstance(old, dict):
                replaced.append((*where, key))
            out[key] = value
    if top:
        for path in replaced:
            _take_child_init(out, path, child)
    return out


def _take_child_init(out: Dict[str, Any], path: Tuple[str, ...], child: Dict[str, Any]) -> None:
    """Set ``out``'s ``[initialize.<path>]`` to the child's (copying the dicts on the way),
    or remove it when the child has none."""
    keys = (INIT_SECTION, *path)
    node = out
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            return
        node[key] = dict(node[key])
        node = node[key]
    mine: Any = child
    for key in keys:
        mine = mine.get(key) if isinstance(mine, dict) else None
    if mine is None:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = mine


def _ref(section: Dict[str, Any]) -> Optional[Tuple[str, str]]:
    for k, v in section.items():
        if k.startswith("@"):
            return (k, v)
    return None


def _apply_overrides(cfg: Config, overrides: Dict[str, Any], strict_paths: bool = False) -> Config:
    data = _to_dict(cfg)
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            if part not in node or not isinstance(node[part], dict):
                where = ".".join(parts[: i + 1])
                options = sorted(k for k, v in node.items() if isinstance(v, dict))
                raise ConfigError(
                    f"--{dotted}: the config has no section '{where}'"
                    f"{_suggest(part, options)}. Sections here: {', '.join(options) or '(none)'}."
                )
            node = node[part]
        leaf = parts[-1]
        if strict_paths and parts[0] == "paths" and len(parts) == 2 and leaf not in node:
            keys = sorted(node)
            raise ConfigError(
                f"--{dotted}: the config's [paths] has no key '{leaf}'{_suggest(leaf, keys)}. "
                f"Its keys: {', '.join(keys) or '(none)'}. A command-line override can only change "
                "a path the config defines; to add one, write it in the config's [paths] section."
            )
        node.update(_merge(node, {leaf: value}))
    return Config(data, is_interpolated=False)


def _suggest(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


# ----------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------


def validate_config(cfg: Config, initialize: bool = True) -> List[str]:
    """All problems of an (interpolated) config, each naming its path. Empty = valid.

    ``initialize``: check ``[model]`` as training builds it, with the ``[initialize]``
    arguments overlaid; False checks ``[model]`` alone, as loading a model builds it.
    """
    return _validate(cfg, initialize)[0]


def check_config(cfg: Config, initialize: bool = True) -> Dict[str, BaseModel]:
    """Raise one ConfigError listing every problem; else return the validated settings
    sections (``"system"``, ``"corpora"``, ``"training"`` -> pydantic model), so a run
    validates each of them once."""
    problems, validated = _validate(cfg, initialize)
    if problems:
        raise ConfigError(_format_problems(problems))
    return validated


def _validate(cfg: Config, initialize: bool) -> Tuple[List[str], Dict[str, BaseModel]]:
    populate()
    cfg = interpolated(cfg)
    data = _to_dict(cfg)
    problems: List[str] = []
    problems.extend(_check_initialize(data))
    from_init = _init_only_keys(data) if initialize else set()
    if initialize:
        _warn_files_in_model(data)
    data = (
        with_initialize(data)
        if initialize
        else {k: v for k, v in data.items() if k != INIT_SECTION}
    )
    for section in ("model", "corpora", "training"):
        if section not in data:
            problems.append(f"[{section}]: missing section.")
    validated: Dict[str, BaseModel] = {}
    for name, schema in SETTINGS_SCHEMAS.items():
        if name in data or name == "system":  # [system] may be left out: its defaults
            model, found = _check_settings(name, data.get(name, {}), schema)
            problems.extend(found)
            if model is not None:
                validated[name] = model
    found: List[str] = []
    _check_promises(data, "", found)
    for problem in found:  # an argument given only in [initialize] is named there
        where = problem.split(":", 1)[0]
        problems.append(f"{INIT_SECTION}.{problem}" if where in from_init else problem)
    return problems, validated


def _init_only_keys(data: Dict[str, Any]) -> set:
    """Dotted paths (``model.encoder.name_or_path``) of the keys that ``[initialize]`` sets and
    ``[model]`` itself does not."""
    out: set = set()

    def walk(init: Any, model: Any, where: str) -> None:
        if not isinstance(init, dict):
            return
        for key, value in init.items():
            inner = model.get(key) if isinstance(model, dict) else None
            if isinstance(value, dict):
                walk(value, inner, f"{where}.{key}")
            elif not (isinstance(model, dict) and key in model):
                out.add(f"{where}.{key}")

    init = data.get(INIT_SECTION)
    walk(init.get("model") if isinstance(init, dict) else None, data.get("model"), "model")
    return out


def with_initialize(data: Dict[str, Any]) -> Dict[str, Any]:
    """``data`` with each ``[initialize.model.<path>]`` block overlaid on ``[model.<path>]``
    (what training builds), and without the ``[initialize]`` section."""
    out = {k: v for k, v in data.items() if k != INIT_SECTION}
    init = data.get(INIT_SECTION) or {}
    if (
        isinstance(init, dict)
        and isinstance(init.get("model"), dict)
        and isinstance(out.get("model"), dict)
    ):
        out["model"] = _overlay(out["model"], init["model"])
    return out


def _overlay(base: Dict[str, Any], extra: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and _ref(value) is None:
            out[key] = _overlay(out[key], value)
        else:
            out[key] = value
    return out


def _check_initialize(data: Dict[str, Any]) -> List[str]:
    """``[initialize]`` holds only ``model``, whose blocks mirror blocks of ``[model]``."""
    init = data.get(INIT_SECTION)
    if init is None:
        return []
    if not isinstance(init, dict):
        return [f"[{INIT_SECTION}]: expected a section, got {_show(init)}."]
    problems = [
        f"{INIT_SECTION}.{key}: unknown setting. [{INIT_SECTION}] holds [{INIT_SECTION}.model.<path>] "
        "blocks with init-only arguments of the component at [model.<path>]."
        for key in init
        if key != "model"
    ]

    def walk(extra: Dict[str, Any], base: Any, where: str) -> None:
        if _ref(extra) is not None:
            return  # a whole component given only at initialisation, e.g. word vectors
        if not isinstance(base, dict):
            problems.append(
                f"{INIT_SECTION}.{where}: there is no block [{where}] in the config for these "
                "init-only arguments to go to. Fix the section name (it mirrors a [model...] block)."
            )
            return
        for key, value in extra.items():
            if isinstance(value, dict) and (key in base or _ref(value) is None):
                walk(value, base.get(key), f"{where}.{key}")

    if isinstance(init.get("model"), dict):
        walk(init["model"], data.get("model"), "model")
    return problems


def files_in_model(data: Dict[str, Any]) -> List[Tuple[str, str]]:
    """(config path, value) of each argument written in ``[model]`` itself (not in
    ``[initialize]``) whose value names an existing file or directory: an init-only resource
    in the old layout. Training reads it, but so would every load of the saved model."""
    found: List[Tuple[str, str]] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, f"{where}.{i}")
        elif isinstance(node, str) and node and ("/" in node or os.sep in node):
            if os.path.exists(os.path.expanduser(node)):
                found.append((where, node))

    walk(data.get("model"), "model")
    return found


def _warn_files_in_model(data: Dict[str, Any]) -> None:
    for where, value in files_in_model(data):
        block, _, arg = where.rpartition(".")
        logger.warning(
            "%s = %s: a file named in [model] is read again each time the saved model loads, "
            "so the model directory is not self-contained. If it is an init-only resource "
            "(pretrained weights, word vectors, a segmentation model, a word list), move it "
            "to [%s.%s] (e.g. `%s = ${paths.KEY}` there); loading then restores it from the "
            "model directory.",
            where,
            value,
            INIT_SECTION,
            block,
            arg,
        )


def _format_problems(problems: List[str]) -> str:
    if len(problems) == 1:
        return f"Config error: {problems[0]}"
    return "Config errors:\n" + "\n".join(f"  - {p}" for p in problems)


def _check_settings(
    section: str, values: Dict[str, Any], schema: type[BaseModel]
) -> Tuple[Optional[BaseModel], List[str]]:
    """The validated settings model of one section (None if invalid) and its problems."""
    # Promise sub-sections (e.g. training.optimizer) are checked separately;
    # for the schema they are opaque dicts.
    try:
        return schema.model_validate(values), []
    except ValidationError as err:
        out = []
        fields = list(schema.model_fields)
        for e in err.errors():
            loc = ".".join(str(x) for x in e["loc"])
            path = f"{section}.{loc}" if loc else f"[{section}]"
            ctx = e.get("ctx") or {}
            if e["type"] == "value_error":
                out.append(f"{path}: {ctx.get('error', e['msg'])}")
            elif e["type"] in ("greater_than_equal", "greater_than"):
                bound = ctx.get("ge", ctx.get("gt"))
                op = "at least" if e["type"] == "greater_than_equal" else "more than"
                out.append(
                    f"{path}: must be {op} {bound}, got {_show(e.get('input'))}. Fix it in the config or with --{path} VALUE."
                )
            elif e["type"] == "extra_forbidden":
                out.append(
                    f"{path}: unknown setting{_suggest(str(e['loc'][0]), fields)}. "
                    f"Settings of [{section}]: {', '.join(fields)}."
                )
            elif e["type"] == "missing":
                out.append(f"{path}: missing required setting.")
            else:
                expected = _type_name(schema.model_fields[str(e["loc"][0])].annotation)
                out.append(f"{path}: expected {expected}, got {_show(e.get('input'))}")
        return None, out


def _check_promises(node: Dict[str, Any], path: str, problems: List[str]) -> None:
    ref = _ref(node)
    if ref is None:
        for key, value in node.items():
            if isinstance(value, dict):
                _check_promises(value, f"{path}.{key}" if path else key, problems)
        return
    at_key, name = ref
    kind = at_key[1:]
    if kind not in KINDS:
        problems.append(
            f"{path}.{at_key}: unknown registry{_suggest(kind, KINDS)}. "
            f"Registries: {', '.join('@' + k for k in KINDS)}."
        )
        return
    try:
        func = registry.get(kind, name)
    except UnknownComponentError as err:
        problems.append(f"{path}.{at_key}: {err}")
        return
    sig = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func)
    except Exception:
        hints = {}
    params = sig.parameters
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    var_pos = any(p.kind is p.VAR_POSITIONAL for p in params.values())
    for arg, value in node.items():
        if arg.startswith("@") or (arg == "*" and var_pos):
            if arg == "*" and isinstance(value, dict):
                for k, v in value.items():
                    if isinstance(v, dict):
                        _check_promises(v, f"{path}.*.{k}", problems)
            continue
        where = f"{path}.{arg}"
        if arg not in params:
            if not var_kw:
                names = [
                    p
                    for p in params
                    if params[p].kind not in (params[p].VAR_POSITIONAL, params[p].VAR_KEYWORD)
                ]
                problems.append(
                    f"{where}: '{name}' has no argument '{arg}'{_suggest(arg, names)}. "
                    f"Its arguments: {', '.join(names) or '(none)'}."
                )
            continue
        if isinstance(value, dict) and _ref(value) is not None:
            _check_promises(value, where, problems)
            continue
        if isinstance(value, dict):
            # A plain dict value, possibly holding promises (e.g. lists of components).
            for k, v in value.items():
                if isinstance(v, dict) and _ref(v) is not None:
                    _check_promises(v, f"{where}.{k}", problems)
        annotation = hints.get(arg, params[arg].annotation)
        if annotation is inspect.Parameter.empty or _contains_promise(value):
            continue
        if validate_type(value, annotation):
            problems.append(f"{where}: expected {_type_name(annotation)}, got {_show(value)}")
    for pname, p in params.items():
        if (
            p.default is inspect.Parameter.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            and pname not in node
        ):
            problems.append(f"{path}.{pname}: missing required argument of '{name}'.")


def _contains_promise(value: Any) -> bool:
    if isinstance(value, dict):
        return _ref(value) is not None or any(_contains_promise(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains_promise(v) for v in value)
    return False


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except TypeError:
        return repr(value)


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        return " or ".join(_type_name(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(_show(a) for a in args)
    if origin in (list, List, Sequence) or origin is typing.Sequence:
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin in (dict, Dict):
        return "dict"
    if origin in (tuple, Tuple):
        return "list"
    if hasattr(annotation, "__name__"):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


# ----------------------------------------------------------------------------
# Resolving
# ----------------------------------------------------------------------------


def resolve_section(cfg: Config, section: str, initialize: bool = True) -> Any:
    """Build the objects of one section (e.g. "model") of a validated config.

    ``initialize``: overlay the ``[initialize]`` arguments (training a new model);
    False builds the section from the config alone (loading a model directory).
    """
    populate()
    cfg = interpolated(cfg)
    data = _to_dict(cfg)
    data = with_initialize(data) if initialize else data
    if section not in data:
        raise ConfigError(f"[{section}]: missing section.")
    try:
        return registry.resolve({section: data[section]}, validate=True)[section]
    except ConfigValidationError as err:
        lines = []
        for e in err.errors or []:
            loc = ".".join(str(x) for x in e.get("loc", []) if x)
            lines.append(f"{loc}: {e.get('msg')}" if loc else str(e.get("msg")))
        title = err.title or "Config validation error"
        raise ConfigError(f"{title} in [{section}]:\n  " + "\n  ".join(lines)) from None


def settings(cfg: Config, section: str) -> BaseModel:
    """The validated settings model of one settings section (for a caller that needs one
    section without validating the whole config; :func:`check_config` returns them all)."""
    cfg = interpolated(cfg)
    data = _to_dict(cfg)
    model, problems = _check_settings(section, data.get(section, {}), SETTINGS_SCHEMAS[section])
    if model is None:
        raise ConfigError(_format_problems(problems))
    return model


def filled_config(cfg: Config) -> Config:
    """The config with every registered function's defaults written out."""
    populate()
    try:
        filled = registry.fill(cfg, validate=False)
    except ConfigValidationError as err:
        raise ConfigError(err.text) from None
    # settings defaults
    data = _to_dict(filled)
    for name, schema in SETTINGS_SCHEMAS.items():
        if name in data:
            for field, info in schema.model_fields.items():
                if field not in data[name] and not info.is_required():
                    data[name][field] = info.default
    return Config(
        data, section_order=["paths", "system", "corpora", "model", INIT_SECTION, "training"]
    )
