"""Offline language identification: a thin wrapper over ``py3langid``.

``py3langid`` is a maintained fork of langid.py (Lui & Baldwin 2012, "langid.py: An
Off-the-shelf Language Identification Tool"): a multinomial naive Bayes classifier over byte
n-grams. Version 0.4 knows 140 labels (ISO 639-1 codes such as ``en``, ISO 639-3 where there is
none, and ``zxx`` for "no linguistic content"); its model ships inside the PyPI package, so
nothing is downloaded at run time.
Probabilities are normalised (``norm_probs=True``), so a guess comes with a confidence in [0, 1].

The package is an optional dependency (extra ``lang``, ``py3langid>=0.4``) and is imported on
first use only. Version 0.4 calibrates the probabilities (softmax at temperature sqrt(bytes));
0.2-0.3 also load, but their probabilities are close to 1.0 for almost any text, so a
``min_confidence`` threshold does little there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from synthpipe.importing import require

_FENCED_CODE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_URL = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class LanguageGuess:
    """A language code (``en``, ``fr``, ``zxx``...) and the classifier's probability for it."""

    lang: str
    confidence: float


class LanguageIdentifier:
    """langid.py's naive Bayes model with normalised probabilities. Use :func:`get_identifier`."""

    def __init__(self) -> None:
        require("py3langid", why="language identification")
        from py3langid import langid

        cls = langid.LanguageIdentifier
        if hasattr(cls, "from_model_file"):  # py3langid >= 0.4
            self._model = cls.from_model_file(langid.MODEL_FILE, norm_probs=True)
        else:  # py3langid 0.2-0.3
            self._model = cls.from_pickled_model(langid.MODEL_FILE, norm_probs=True)

    @property
    def languages(self) -> list[str]:
        """The codes the model can return."""
        return sorted(set(self._model.nb_classes))

    def identify(self, text: str) -> LanguageGuess:
        """The most probable language of `text` and its probability."""
        lang, confidence = self._model.classify(text)
        return LanguageGuess(str(lang), float(confidence))

    @staticmethod
    def identity() -> dict[str, Any]:
        """What decides the guesses (enters step fingerprints)."""
        try:
            return {"package": "py3langid", "version": version("py3langid")}
        except PackageNotFoundError:
            return {"package": "py3langid", "version": "unknown"}


@lru_cache(maxsize=1)
def get_identifier() -> LanguageIdentifier:
    """The process-wide identifier (the model loads once, in about half a second)."""
    return LanguageIdentifier()


def prose_only(text: str) -> str:
    """`text` without fenced code, inline code and URLs, which mislead byte n-gram models."""
    text = _FENCED_CODE.sub(" ", text)
    text = _INLINE_CODE.sub(" ", text)
    return _URL.sub(" ", text).strip()


def identify(text: str) -> LanguageGuess:
    """Language of `text` with the shared identifier (see :func:`get_identifier`)."""
    return get_identifier().identify(text)
