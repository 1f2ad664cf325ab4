"""pkuseg word segmentation as a lattice source (``nerkit.PkusegSegmenter.v1``).

The study segments every sentence with pkuseg's ``medicine`` model and keeps
the words of at least two characters that are all Chinese. This segmenter
does the same through ``spacy_pkuseg`` and returns each kept word with its
character offsets: ``(word, start, end)`` with ``end`` inclusive.

``model`` is a named pkuseg model (``medicine``, ``spacy_ontonotes`` (alias
``default``), ``news``, ``web``, ``tourism``, ``mixed``), looked for in
``$PKUSEG_HOME`` (default ``~/.pkuseg``) and downloaded there on first use, or
the path of a model directory (the unzipped ``medicine.zip``, or a model
written by ``spacy_pkuseg.train``). The model is loaded on the first call, not
when the config is resolved; a local path is checked when the config is
resolved.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import os
import re
import shutil
from pathlib import Path
from typing import Any, List, Optional, Union

from ..errors import ConfigError, ModelLoadError
from ..registry import FileArg, file_args
from .base import Segmenter, Word

# CJK unified ideographs: the base block, extension A, compatibility
# ideographs and the supplementary-plane extensions B-H.
_CHINESE = re.compile(
    "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef\U00030000-\U0003134f]+"
)

MODEL_FILES = ("weights.npz", "model.txt")  # one of them holds the CRF weights
FEATURE_FILES = ("features.msgpack", "features.pkl", "features.json", "unigram_word.txt")
ALIASES = {"default": "spacy_ontonotes"}
POSTPROCESS_WORDS = "postprocess_words.txt"  # written by PkusegSegmenter.to_disk
USER_DICT = "user_dict.txt"  # the copy of the user dictionary written by to_disk
OFFLINE_ENV = ("NERKIT_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def pkuseg_settings() -> Any:
    """spacy_pkuseg's global settings object (model names, URLs, ``pkuseg_home``).

    ``spacy_pkuseg.config`` is shadowed by that object in the package namespace,
    so the module is looked up by name.
    """
    return importlib.import_module("spacy_pkuseg.config").config


def is_chinese(word: str) -> bool:
    """True if every character of ``word`` is a CJK ideograph."""
    return _CHINESE.fullmatch(word) is not None


def keep_word(word: str, min_length: int, chinese_only: bool) -> bool:
    """The study's lattice filter: at least ``min_length`` chars, all Chinese."""
    return len(word) >= min_length and (not chinese_only or is_chinese(word))


@file_args(
    model=FileArg(
        "dir",
        "pkuseg model",
        source="a model of https://github.com/lancopku/pkuseg-python/releases, unzipped into {path}",
    ),
    user_dict=FileArg("file", "pkuseg user dictionary"),
)
def pkuseg_segmenter(
    model: str = "medicine",
    user_dict: Optional[str] = None,
    default_dicts: bool = True,
    min_length: int = 2,
    chinese_only: bool = True,
) -> PkusegSegmenter:
    """Words found by pkuseg, filtered as in the study.

    model: a named pkuseg model or a model directory. Init-only (with user_dict):
        set it in [initialize.model.lexicon.segmenter...]; a model directory keeps a
        copy of the model (``to_disk``) and loads without the original.
    user_dict: a file of words (one per line, optionally ``word<TAB>tag``) that
        pkuseg must keep whole, or None.
    default_dicts: apply pkuseg's bundled post-processing dictionaries (the
        model's own ``*_dict.pkl`` and ``default.pkl``), as
        ``spacy_pkuseg.pkuseg(model)`` does by default.
    min_length: shortest word kept.
    chinese_only: keep only words whose characters are all Chinese.
    """
    return PkusegSegmenter(model, user_dict, default_dicts, min_length, chinese_only)


class PkusegSegmenter(Segmenter):
    """Callable ``text -> [(word, start, end)]``; the pkuseg model loads lazily."""

    def __init__(
        self,
        model: str,
        user_dict: Optional[str],
        default_dicts: bool,
        min_length: int,
        chinese_only: bool,
    ) -> None:
        if min_length < 1:
            raise ConfigError(f"PkusegSegmenter: min_length must be >= 1, got {min_length}.")
        self.model = model
        self.name: Optional[str] = ALIASES.get(model, model)
        if self.name not in pkuseg_settings().available_models:
            self.name = None
            self.model_dir: Optional[Path] = _check_model_dir(Path(model).expanduser())
        else:
            self.model_dir = None  # found (or downloaded) on first use
        self.user_dict: Optional[Path] = None
        if user_dict is not None:
            self.user_dict = Path(user_dict).expanduser()
            if not self.user_dict.is_file():
                raise ModelLoadError(
                    f"pkuseg user dictionary not found: {self.user_dict}. Fix the segmenter's "
                    "user_dict setting (e.g. --initialize.model.lexicon.segmenter.user_dict words.txt) "
                    "or set it to null."
                )
        self.default_dicts = default_dicts
        self.min_length = min_length
        self.chinese_only = chinese_only
        self._seg = None
        self._key: Optional[str] = None

    @property
    def loaded(self) -> bool:
        return self._seg is not None

    def load(self) -> None:
        """Load the pkuseg model now (downloading a named model if needed)."""
        if self._seg is not None:
            return
        import spacy_pkuseg

        model_dir = self._resolve_model_dir()
        seg = spacy_pkuseg.pkuseg(model_name=str(model_dir), user_dict=None)
        if self.user_dict is not None:
            seg.preprocesser = spacy_pkuseg.Preprocesser(str(self.user_dict))
        if self.default_dicts:
            words_file = model_dir / POSTPROCESS_WORDS
            if words_file.is_file():  # a copy written by to_disk: plain text, no pickle
                seg.postprocesser = _postprocesser(
                    words_file.read_text(encoding="utf8").split("\n")
                )
            else:
                default = Path(spacy_pkuseg.__file__).parent / "dicts" / "default.pkl"
                own = sorted(str(p) for p in model_dir.glob("*_dict.pkl"))
                seg.postprocesser = spacy_pkuseg.Postprocesser(None, own + [str(default)])
        self._seg = seg

    def to_disk(self, path: Union[str, Path]) -> None:
        """Copy the model as this segmenter uses it into the directory ``path``, in
        formats that load without unpickling: ``features.msgpack``, ``weights.npz``,
        the post-processing dictionaries as ``postprocess_words.txt`` and the user
        dictionary as ``user_dict.txt``."""
        self.load()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._seg.feature_extractor.save(str(path))
        self._seg.model.save(str(path))
        if self.default_dicts:
            words = sorted(
                self._seg.postprocesser.common_words | self._seg.postprocesser.other_words
            )
            (path / POSTPROCESS_WORDS).write_text("\n".join(w for w in words if w), encoding="utf8")
        if self.user_dict is not None:
            shutil.copyfile(self.user_dict, path / USER_DICT)

    def from_disk(self, path: Union[str, Path]) -> PkusegSegmenter:
        """Use the copy ``to_disk`` wrote (read-only; loaded on the first call)."""
        path = Path(path)
        self.model_dir = _check_model_dir(path)
        self.name = None
        self.user_dict = path / USER_DICT if (path / USER_DICT).is_file() else None
        self._seg = None
        self._key = None
        return self

    def __call__(self, text: str) -> List[Word]:
        if self._seg is None:
            self.load()
        out: List[Word] = []
        pos = 0
        for word in self._seg.cut(text):
            # pkuseg drops whitespace but never alters characters, so each word
            # is the next occurrence of itself in the text.
            start = text.find(word, pos)
            if start < 0:
                continue
            pos = start + len(word)
            if keep_word(word, self.min_length, self.chinese_only):
                out.append((word, start, pos - 1))
        return out

    @property
    def cache_key(self) -> str:
        """The settings that determine the output, for the segmentation cache."""
        if self._key is None:
            if self.name is not None:
                model = f"{self.name}@{pkuseg_settings().model_hash[self.name][:16]}"
            else:
                model = f"{self.model_dir.resolve()}@{_fingerprint(self.model_dir)}"
            udict = "none"
            if self.user_dict is not None:
                digest = hashlib.sha1(self.user_dict.read_bytes()).hexdigest()[:16]
                udict = f"{self.user_dict.resolve()}@{digest}"
            self._key = (
                f"nerkit.PkusegSegmenter.v1|spacy_pkuseg={_pkuseg_version()}|model={model}"
                f"|user_dict={udict}|default_dicts={self.default_dicts}"
                f"|min_length={self.min_length}|chinese_only={self.chinese_only}"
            )
        return self._key

    def __repr__(self) -> str:
        return (
            f"PkusegSegmenter(model={self.model!r}, user_dict={self.user_dict}, "
            f"min_length={self.min_length}, chinese_only={self.chinese_only})"
        )

    def _resolve_model_dir(self) -> Path:
        if self.model_dir is not None:
            return self.model_dir
        import spacy_pkuseg.download

        cfg = pkuseg_settings()
        home = Path(cfg.pkuseg_home)
        target = home / self.name
        if not _is_model_dir(target):
            url = cfg.model_urls[self.name]
            fix = (
                f"Without internet, download {url} on another machine, unzip it and pass "
                f"the folder: --initialize.model.lexicon.segmenter.model /path/to/{self.name} (or set "
                f"PKUSEG_HOME to a folder that holds {self.name}/)."
            )
            offline = [v for v in OFFLINE_ENV if os.environ.get(v, "") not in ("", "0")]
            if offline:
                raise ModelLoadError(
                    f"The pkuseg model '{self.name}' is not downloaded (looked in {target}) "
                    f"and {offline[0]} is set, so it can't be downloaded. {fix}"
                )
            if (home / f"{self.name}.zip").exists():
                raise ModelLoadError(
                    f"The pkuseg model '{self.name}': {home / (self.name + '.zip')} exists but "
                    f"{target} holds no model files. Delete the zip to download it again, "
                    f"or unzip it into {target}."
                )
            try:
                spacy_pkuseg.download.download_model(url, str(home), cfg.model_hash[self.name])
            except Exception as err:  # network errors come from urllib or requests
                raise ModelLoadError(
                    f"The pkuseg model '{self.name}' is not downloaded (looked in {target}) "
                    f"and downloading it from {url} failed ({type(err).__name__}: {err}); "
                    f"this is expected offline. {fix}"
                ) from None
            if not _is_model_dir(target):
                raise ModelLoadError(
                    f"Downloaded the pkuseg model '{self.name}' but {target} holds no model "
                    f"files ({' or '.join(MODEL_FILES)}). Delete {home / (self.name + '.zip')} "
                    "and try again."
                )
        self.model_dir = target
        return target


def _postprocesser(words: List[str]) -> Any:
    """spacy_pkuseg's post-processor over a word list (what it reads from its pickles)."""
    import spacy_pkuseg

    post = spacy_pkuseg.Postprocesser(None, None)
    post.do_process = True
    post.common_words = set()
    post.other_words = {w for w in words if w}
    return post


def _is_model_dir(path: Path) -> bool:
    return (
        path.is_dir()
        and any((path / f).is_file() for f in MODEL_FILES)
        and any((path / f).is_file() for f in FEATURE_FILES)
    )


def _check_model_dir(path: Path) -> Path:
    names = ", ".join(["default"] + pkuseg_settings().available_models)
    if not path.exists():
        raise ModelLoadError(
            f"pkuseg model '{path}' is neither a named model ({names}) nor an existing "
            "directory. Fix the segmenter's model setting, e.g. "
            "--initialize.model.lexicon.segmenter.model medicine, or /path/to/medicine (an unzipped "
            "pkuseg model)."
        )
    if not _is_model_dir(path):
        raise ModelLoadError(
            f"pkuseg model directory {path} holds no pkuseg model: expected "
            f"{' or '.join(MODEL_FILES)} and {' or '.join(FEATURE_FILES)}. Pass the folder "
            "unzipped from a pkuseg release (e.g. medicine/) or written by spacy_pkuseg.train."
        )
    return path


def _fingerprint(path: Path) -> str:
    """Size and modification time of the model files: changes when the model does."""
    parts = []
    for name in MODEL_FILES + FEATURE_FILES:
        f = path / name
        if f.is_file():
            st = f.stat()
            parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    for f in sorted(path.glob("*_dict.pkl")):
        st = f.stat()
        parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def _pkuseg_version() -> str:
    try:
        return importlib.metadata.version("spacy-pkuseg")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
