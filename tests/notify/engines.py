"""Transcript engines an operator might plug in (``RENVOI_TRANSCRIBER=module:factory``),
for the worker's tests: one that echoes, one that fails, one that never ends."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from renvoi.audio.transcripts import Transcript


class Echo:
    """Says how many samples it heard, in English and French."""

    languages = frozenset({"en", "fr"})

    def transcribe(self, pcm: bytes, rate: int, language: str) -> Transcript | None:
        return Transcript(f"heard {len(pcm) // 2} samples at {rate}\x00\r\nBcc: x", language)


def echo(models: Mapping[str, Path]) -> Echo:
    return Echo()


def broken(models: Mapping[str, Path]) -> Echo:
    raise RuntimeError("the engine's model is corrupt")


class Spinner(Echo):
    def transcribe(self, pcm: bytes, rate: int, language: str) -> Transcript | None:
        while True:  # the kernel's CPU limit ends it
            pass


def spinner(models: Mapping[str, Path]) -> Spinner:
    return Spinner()
