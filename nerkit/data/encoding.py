"""Decoding input corpora: UTF-8 unless a command's ``--encoding`` says otherwise, and one
clear error naming the file, the line and (where it can be told) the file's real encoding.

Every reader, the format detection, the JSON Lines stream (files and stdin) and the
submission check read their text through :func:`read_text_file` or
:func:`decoded_lines`, in the encoding :func:`input_encoding` sets for the block.
"""

from __future__ import annotations

import codecs
import io
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import BinaryIO, Iterator, Optional, Tuple, Union

from ..errors import ConfigError, DataError

DEFAULT = "utf-8"
_ENCODING: ContextVar[str] = ContextVar("nerkit_input_encoding", default=DEFAULT)
# Tried in order on a file that does not decode: (name said, codec tried, codec to pass to
# --encoding: gb18030 reads GBK files too).
CANDIDATES = (
    ("UTF-8", "utf-8", "utf-8"),
    ("GBK", "gbk", "gb18030"),
    ("GB18030", "gb18030", "gb18030"),
    ("Big5", "big5", "big5"),
)


@contextmanager
def input_encoding(name: Optional[str]) -> Iterator[str]:
    """Read input corpora in ``name`` (None: UTF-8) inside the block; yields the codec name."""
    name = name or DEFAULT
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise ConfigError(
            f"--encoding {name!r}: not an encoding Python knows. E.g. --encoding gb18030 (GBK and "
            "GB18030 files), --encoding big5, --encoding utf-16; the default is utf-8."
        ) from None
    token = _ENCODING.set(codec)
    try:
        yield codec
    finally:
        _ENCODING.reset(token)


def current_encoding() -> str:
    return _ENCODING.get()


def _codec(keep_bom: bool) -> str:
    enc = current_encoding()
    return "utf-8-sig" if enc == "utf-8" and not keep_bom else enc


def read_text_file(
    path: Union[str, Path], keep_newlines: bool = False, keep_bom: bool = False
) -> str:
    """The text of ``path`` in the input encoding (a UTF-8 BOM removed unless ``keep_bom``;
    ``\\r\\n`` and ``\\r`` read as ``\\n`` unless ``keep_newlines``); a DataError if it does
    not decode."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode(_codec(keep_bom))
    except UnicodeDecodeError as err:
        raise undecodable(str(path), raw, err) from None
    return text if keep_newlines else text.replace("\r\n", "\n").replace("\r", "\n")


def head_text(path: Union[str, Path], size: int = 32768) -> str:
    """The text of the first ``size`` bytes of ``path`` (a character cut at the end dropped),
    in the input encoding; a DataError if they do not decode."""
    with open(path, "rb") as fh:
        raw = fh.read(size)
    try:
        return raw.decode(_codec(False))
    except UnicodeDecodeError as err:
        if len(raw) < size or err.start < len(raw) - 4:
            raise undecodable(str(path), raw, err) from None
        return raw[: err.start].decode(_codec(False))


def decoded_lines(fh: BinaryIO, source: str) -> Iterator[str]:
    """The lines of a binary stream (a file or stdin's buffer) decoded in the input encoding;
    a line that does not decode is a DataError naming ``source`` and the line."""
    enc = current_encoding()
    if codecs.lookup(enc).name.startswith(("utf-16", "utf-32")):  # "\n" is not one byte there
        yield from io.TextIOWrapper(fh, encoding=enc)
        return
    for lineno, raw in enumerate(fh, start=1):
        try:
            yield raw.decode("utf-8-sig" if enc == "utf-8" and lineno == 1 else enc)
        except UnicodeDecodeError as err:
            raise undecodable(source, raw, err, line=lineno) from None


def undecodable(
    source: str, raw: bytes, err: UnicodeDecodeError, line: Optional[int] = None
) -> DataError:
    """The error for input that is not in the expected encoding, with the encoding it seems
    to be in (GBK/GB18030 are common for Chinese hospital exports)."""
    enc = current_encoding()
    if line is None:
        line = raw.count(b"\n", 0, err.start) + 1
    guess = guess_encoding(raw, exclude=enc)
    message = f"{source}, line {line}: not {enc.upper()} text (byte {err.start}: {err.reason})."
    if guess is not None:
        said, codec = guess
        message += (
            f" It reads as {said}: pass --encoding {codec}, or convert the file to UTF-8 "
            f"(iconv -f {codec.upper()} -t UTF-8 IN > OUT)."
        )
    else:
        message += " Save the file as UTF-8, or pass its encoding with --encoding."
    return DataError(message)


def guess_encoding(raw: bytes, exclude: str = "") -> Optional[Tuple[str, str]]:
    """(name, codec) of the first common encoding of Chinese text that decodes ``raw`` (its
    first 64 KiB) with some Chinese characters in it; None when none does."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None if exclude.startswith("utf-16") else ("UTF-16", "utf-16")
    sample = raw[:65536]
    for said, codec, option in CANDIDATES:
        if codecs.lookup(option).name == codecs.lookup(exclude or "ascii").name:
            continue
        try:
            text = sample.decode(codec)
        except UnicodeDecodeError as err:
            if len(sample) == len(raw) or err.start < len(sample) - 4:
                continue
            text = sample[: err.start].decode(codec)  # cut inside the last character
        if any("\u4e00" <= ch <= "\u9fff" for ch in text):
            return said, option
    return None
