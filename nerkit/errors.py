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
