"""Voicemail transcripts: the engine's Protocol, the engines renvoi ships, and which one
the settings name.

An engine runs only in ``python -m renvoi.audio transcribe`` (``isolated.py``), a
process of its own that the kernel stops past its CPU time, started by the outbox worker
after the call: never on a call's path, never in a server process, and nothing leaves
the machine. An operator plugs another engine with ``RENVOI_TRANSCRIBER=module:factory``,
a callable taking the models' mapping (language → path) and returning a ``Transcriber``.
"""

from __future__ import annotations

import importlib
import json
import math
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

ENGINES = ("pocketsphinx", "vosk")


class TranscriberError(RuntimeError):
    """The engine the settings name cannot be loaded (a missing package or model)."""


@dataclass(frozen=True, slots=True)
class Transcript:
    """What an engine heard: ``text`` is empty when it made nothing out."""

    text: str
    language: str


class Transcriber(Protocol):
    """A speech-to-text engine."""

    @property
    def languages(self) -> frozenset[str]:
        """The languages it has a model for (``fr``, ``en``)."""

    def transcribe(self, pcm: bytes, rate: int, language: str) -> Transcript | None:
        """``pcm`` (16-bit mono at ``rate`` Hz) as text in ``language``; None when it has
        no model for that language."""


class PocketSphinx:
    """CMU PocketSphinx with the US English model its PyPI package ships: no download,
    but costly in CPU and inaccurate on telephone audio (docs/voicemail.md measures
    both), hence off unless the operator asks for it."""

    languages = frozenset({"en"})
    MODEL_RATE = 16000  # the shipped model is wideband

    def __init__(self) -> None:
        try:
            self._pocketsphinx = importlib.import_module("pocketsphinx")
        except ImportError as exc:
            raise TranscriberError(
                "RENVOI_TRANSCRIBER=pocketsphinx needs the pocketsphinx package "
                "(pip install 'renvoi[transcripts]')"
            ) from exc

    def transcribe(self, pcm: bytes, rate: int, language: str) -> Transcript | None:
        if language not in self.languages:
            return None
        if rate * 2 == self.MODEL_RATE:
            pcm = upsample_twice(pcm)
        elif rate != self.MODEL_RATE:
            raise ValueError(f"PocketSphinx takes 8 or 16 kHz audio, not {rate} Hz")
        decoder = self._pocketsphinx.Decoder(loglevel="FATAL")
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        return Transcript(hypothesis.hypstr if hypothesis else "", language)


class Vosk:
    """Vosk (Kaldi) with models the operator keeps on disk, one directory per language
    (``RENVOI_TRANSCRIBER_MODELS=fr=/srv/vosk-model-fr,en=/srv/vosk-model-en-us``):
    a better model is a setting, not a code change. renvoi never downloads one."""

    def __init__(self, models: Mapping[str, Path]) -> None:
        try:
            self._vosk = importlib.import_module("vosk")
        except ImportError as exc:
            raise TranscriberError("RENVOI_TRANSCRIBER=vosk needs the vosk package") from exc
        missing = [f"{lang}={path}" for lang, path in models.items() if not path.is_dir()]
        if not models or missing:
            raise TranscriberError(
                "RENVOI_TRANSCRIBER=vosk needs RENVOI_TRANSCRIBER_MODELS, each a model "
                f"directory{': not found: ' + ', '.join(missing) if missing else ''}"
            )
        self._models = dict(models)
        self._vosk.SetLogLevel(-1)

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(self._models)

    def transcribe(self, pcm: bytes, rate: int, language: str) -> Transcript | None:
        path = self._models.get(language)
        if path is None:
            return None
        recognizer = self._vosk.KaldiRecognizer(self._vosk.Model(str(path)), rate)
        recognizer.AcceptWaveform(pcm)
        result: dict[str, Any] = json.loads(recognizer.FinalResult())
        return Transcript(str(result.get("text", "")), language)


def load(engine: str, models: Mapping[str, Path]) -> Transcriber:
    """The engine ``RENVOI_TRANSCRIBER`` names: ``pocketsphinx``, ``vosk``, or
    ``module:factory`` (called with ``models``).

    Raises:
        TranscriberError: it cannot be loaded.
    """
    if engine == "pocketsphinx":
        return PocketSphinx()
    if engine == "vosk":
        return Vosk(models)
    module_name, _, attribute = engine.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise TranscriberError(f"RENVOI_TRANSCRIBER={engine}: cannot import it ({exc})") from exc
    return cast(Transcriber, cast(Callable[..., Any], factory)(models))


def parse_models(value: str) -> dict[str, Path]:
    """``RENVOI_TRANSCRIBER_MODELS``: ``fr=/path,en=/path`` as a mapping.

    Raises:
        ValueError: an entry is not ``language=path``.
    """
    models: dict[str, Path] = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        language, equals, path = entry.partition("=")
        if not (equals and language.strip() and path.strip()):
            raise ValueError(f"{entry!r} is not language=path")
        models[language.strip()] = Path(path.strip())
    return models


def _half_band(taps: int = 31) -> list[float]:
    """A half-band low-pass (windowed sinc, Hamming), only its taps that fall between the
    input samples: doubling the rate with it keeps the voice band clean where a linear
    interpolation leaves images that raise PocketSphinx's error rate."""
    centre = (taps - 1) // 2
    return [
        math.sin(math.pi * k / 2)
        / (math.pi * k / 2)
        * (0.54 + 0.46 * math.cos(math.pi * k / centre))
        for k in range(-centre, centre + 1, 2)
    ]


_HALF_BAND = _half_band()


def upsample_twice(pcm: bytes) -> bytes:
    """16-bit PCM at twice its rate: each input sample kept, one interpolated between."""
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    count = len(samples)
    out = [0] * (2 * count)
    half = len(_HALF_BAND) // 2
    for n, sample in enumerate(samples):
        out[2 * n] = sample
        total = 0.0
        for j, tap in enumerate(_HALF_BAND):
            k = n + j - half + 1
            if 0 <= k < count:
                total += tap * samples[k]
        out[2 * n + 1] = max(-32768, min(32767, round(total)))
    return struct.pack(f"<{2 * count}h", *out)
