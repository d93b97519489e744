"""``python -m renvoi.audio``: audio work in a process of its own (``isolated.py``).

- ``greeting``: an uploaded WAV on stdin, greeting PCM (16-bit mono 8 kHz) on stdout.
- ``speak LANGUAGE``: the text to speak on stdin, greeting PCM on stdout.
- ``transcribe ENGINE LANGUAGE CPU_SECONDS [MODELS]``: a message's PCM on stdin; on
  stdout ``{"text": ...}``, or ``{"text": null}`` when the engine has no model for the
  language (``transcripts.load`` names the engines, ``parse_models`` the models).

A refusal is one line on stderr, ``reason: detail``, and exit status 2. Past its CPU
limit (``CPU_SECONDS``, or the one given) the kernel stops the process, whatever its
input.
"""

from __future__ import annotations

import json
import resource
import sys

from renvoi.audio.speech import speak
from renvoi.audio.transcripts import TranscriberError, load, parse_models
from renvoi.audio.wav import RATE, AudioError, greeting_from_upload

CPU_SECONDS = 20
USAGE = (
    "usage: python -m renvoi.audio greeting | speak LANGUAGE"
    " | transcribe ENGINE LANGUAGE CPU_SECONDS [MODELS]\n"
)


def main(argv: list[str]) -> int:
    command = argv[:1]
    limit = int(argv[3]) if command == ["transcribe"] and len(argv) in (4, 5) else CPU_SECONDS
    resource.setrlimit(resource.RLIMIT_CPU, (limit, limit))
    data = sys.stdin.buffer.read()
    try:
        if command == ["greeting"]:
            out = greeting_from_upload(data)
        elif command == ["speak"] and len(argv) == 2:
            out = speak(data.decode("utf-8", "replace"), language=argv[1])
        elif command == ["transcribe"] and len(argv) in (4, 5):
            engine = load(argv[1], parse_models(argv[4] if len(argv) == 5 else ""))
            heard = engine.transcribe(data, RATE, argv[2])
            out = json.dumps({"text": heard.text if heard else None}).encode()
        else:
            sys.stderr.write(USAGE)
            return 64
    except AudioError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    except (TranscriberError, ValueError) as exc:
        sys.stderr.write(f"engine: {exc}\n")
        return 2
    sys.stdout.buffer.write(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
