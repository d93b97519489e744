"""Greetings read aloud by espeak-ng, where the server has it.

The one part of ``renvoi.audio`` that runs a program: espeak-ng, in a process of its own,
bounded in time.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from renvoi.audio.wav import AudioError, greeting_from_upload

MAX_SPOKEN_TEXT = 500


def speak(text: str, *, language: str = "fr") -> bytes:
    """A greeting read by espeak-ng (when installed), as 16-bit mono 8 kHz PCM.

    Raises:
        AudioError: espeak-ng is not installed, the text is empty or too long, or the
            synthesis failed.
    """
    program = shutil.which("espeak-ng")
    text = " ".join(text.split())
    if program is None:
        raise AudioError("no_speech", "text-to-speech needs espeak-ng on the server")
    if not text or len(text) > MAX_SPOKEN_TEXT:
        raise AudioError("text", f"1 to {MAX_SPOKEN_TEXT} characters")
    # To a file: on stdout espeak-ng cannot go back to fill in the WAV header's sizes.
    with tempfile.TemporaryDirectory(prefix="renvoi-tts-") as directory:
        out = Path(directory) / "spoken.wav"
        try:
            subprocess.run(
                [program, "-v", language, "-s", "170", "-w", str(out)],
                input=text.encode(),
                capture_output=True,
                timeout=30,
                check=True,
            )
            spoken = out.read_bytes()
        except (subprocess.SubprocessError, OSError) as exc:
            raise AudioError("no_speech", f"espeak-ng failed ({type(exc).__name__})") from None
    return greeting_from_upload(spoken)
