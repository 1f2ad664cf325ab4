"""Reading a corpus split named by the config, with errors that name its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

from ..errors import ConfigError, DataError
from ..types import Example


def read_corpus(reader: Any, path: Optional[str], key: str, limit: int = 0) -> List[Example]:
    if not path:
        raise ConfigError(f"{key}: no file given. Set it in the config or with --{key} PATH.")
    if not Path(path).exists():
        raise DataError(
            f"{key}: file not found: {path}. Fix the path in the config or pass --{key} PATH."
        )
    examples = reader(path)  # a Corpus: keeps the reader's .warnings
    if limit:
        examples = examples[:limit]
    if not examples:
        raise DataError(f"{key}: {path} holds no records.")
    return examples
