"""``python -m renvoi.audio greeting`` or ``speak LANGUAGE``: a greeting converted in a
process of its own.

Reads an uploaded WAV (or the text to speak) on stdin and writes 16-bit mono 8 kHz PCM
on stdout; a refusal is one line on stderr, ``reason: detail`` (``wav.AudioError``), and
exit status 2. The API runs this rather
than converting in its own process, so that a large upload costs its event loop
nothing and a conversion is bounded in CPU time (``CPU_SECONDS``) whatever its input.
"""

from __future__ import annotations

import resource
import sys

from renvoi.audio.speech import speak
from renvoi.audio.wav import AudioError, greeting_from_upload

CPU_SECONDS = 20


def main(argv: list[str]) -> int:
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    data = sys.stdin.buffer.read()
    try:
        if argv[:1] == ["greeting"]:
            pcm = greeting_from_upload(data)
        elif argv[:1] == ["speak"] and len(argv) == 2:
            pcm = speak(data.decode("utf-8", "replace"), language=argv[1])
        else:
            sys.stderr.write("usage: python -m renvoi.audio greeting | speak LANGUAGE\n")
            return 64
    except AudioError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    sys.stdout.buffer.write(pcm)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
