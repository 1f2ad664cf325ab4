"""Reading a corpus split named by the config, with errors that name its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional, Tuple, Union

from ..errors import ConfigError, DataError
from ..types import Example


class CollectingReader:
    """A reader that can list every problem of a file instead of stopping at the first
    (``nerkit debug data`` asks it to); any other reader is read there until its first
    DataError. A plugin reader subclasses it the same way."""

    def __call__(self, path: Union[str, Path]) -> List[Example]:
        raise NotImplementedError

    def collect(self, path: Union[str, Path], problems: List[str]) -> List[Example]:
        """The valid records of ``path``; every problem found is appended to ``problems``."""
        raise NotImplementedError


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


def collect_corpus(reader: Any, path: str, key: str) -> Tuple[List[Example], List[str]]:
    """The valid records of a split's file and every problem found in it (``debug data``)."""
    problems: List[str] = []
    if not Path(path).exists():
        return [], [
            f"{key}: file not found: {path}. Fix the path in the config or pass --{key} PATH."
        ]
    if isinstance(reader, CollectingReader):
        return reader.collect(path, problems), problems
    try:  # another reader: it stops at its first problem
        return reader(path), problems
    except DataError as err:
        return [], [str(err)]
