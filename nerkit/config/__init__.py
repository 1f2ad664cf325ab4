"""Loading, extending, overriding and validating config files.

A config is a confection ``.cfg`` file. nerkit adds, one module per job:

* :mod:`~nerkit.config.files`: ``[nerkit] extends = "base.cfg"``: a file can extend
  another one (paths are relative to the extending file). Sections are merged key by
  key; a section whose ``@registry`` function differs from the base's replaces it whole.
  Relative paths written in a file (every ``[paths]`` value, and ``[corpora]``
  ``train``/``dev``/``test``) are relative to that file's folder, as docker compose
  does with its file, so a config works from any working directory; values with a
  ``${...}`` reference follow what they refer to. Where nothing exists there but the
  path exists in the nerkit checkout, that is taken, so a copied config still finds
  the sample files. Paths given as overrides (the command line) stay relative to the
  working directory.
* :mod:`~nerkit.config.overrides`: CLI overrides in spaCy's style: ``--training.max_epochs 3``.
* :mod:`~nerkit.config.settings`: the settings sections (``[system]``, ``[corpora]``,
  ``[training]``) as pydantic models that forbid unknown keys.
* :mod:`~nerkit.config.validation`: validation before anything is built: every
  ``@kind = "name"`` reference is checked against the registries, every argument
  against the function's signature (by confection), the settings against their
  models. Every error names its config path, e.g.
  ``model.decoder.dropout: expected float, got "high"``.
* :mod:`~nerkit.config.resolving`: interpolation, the ``[initialize]`` overlay
  (spaCy's split: init-only resources of ``[model.<path>]`` blocks in
  ``[initialize.model.<path>]``), building sections, the filled config.

A training run (and every command that works on a config for training: ``debug``,
``pretrain``, ``sweep``) goes through these once, in
``nerkit.training.initialize.resolve_run``.
"""

from .files import CHECKOUT, FILE_PATH_SETTINGS, load_config, relative_to
from .overrides import apply_overrides, parse_overrides, parse_value
from .resolving import (
    SECTION_ORDER,
    filled_config,
    interpolated,
    overlay,
    resolve_section,
    resolve_sections,
    settings,
    with_initialize,
    without_initialize,
)
from .settings import (
    SETTINGS_SCHEMAS,
    SETTINGS_SECTIONS,
    CorporaSettings,
    StrictSettings,
    SystemSettings,
    TrainingSettings,
    check_settings,
)
from .validation import check_blocks, check_config, check_data, files_in_model, validate_config
from .values import (
    INIT_SECTION,
    as_dict,
    block_ref,
    format_problems,
    merge,
    show,
    suggest,
    type_name,
)

__all__ = [
    "CHECKOUT",
    "FILE_PATH_SETTINGS",
    "INIT_SECTION",
    "SECTION_ORDER",
    "SETTINGS_SCHEMAS",
    "SETTINGS_SECTIONS",
    "CorporaSettings",
    "StrictSettings",
    "SystemSettings",
    "check_blocks",
    "TrainingSettings",
    "apply_overrides",
    "as_dict",
    "block_ref",
    "check_config",
    "check_data",
    "check_settings",
    "files_in_model",
    "filled_config",
    "format_problems",
    "interpolated",
    "load_config",
    "merge",
    "overlay",
    "parse_overrides",
    "parse_value",
    "relative_to",
    "resolve_section",
    "resolve_sections",
    "settings",
    "show",
    "suggest",
    "type_name",
    "validate_config",
    "with_initialize",
    "without_initialize",
]
