"""nerkit's error types. Messages say what was asked, what exists and how to fix it."""


class NerkitError(Exception):
    """Base class of every error nerkit raises on purpose."""


class ConfigError(NerkitError, ValueError):
    """A config value is missing, unknown or of the wrong type."""


class DataError(NerkitError, ValueError):
    """A data file or record is malformed. The message names file, record and field."""


class ModelLoadError(NerkitError, OSError):
    """A model, tokenizer, vectors file or segmenter model could not be found or read."""


class UnknownComponentError(NerkitError, LookupError):
    """A config or lookup names a component (or a kind) that no registry holds."""


class AssetError(NerkitError, FileNotFoundError):
    """Files a config reads (corpora, models, vectors) are missing; the message lists each one."""


class InputError(NerkitError, TypeError):
    """A Python API call got a value of the wrong type (e.g. a list where one text is expected)."""


class OutputError(NerkitError, OSError):
    """An output path can't be written, or writing it would replace something by accident."""
