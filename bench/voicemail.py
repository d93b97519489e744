"""Voicemail's costs and quality here: calls held at once, CPU per recorded minute with
transcription off and on, the transcripts' word error rate, and MP3's size and fidelity.

One command: ``.venv/bin/python bench/voicemail.py`` (``--smoke``: one call each way and
a little of the rest, which CI runs so that the bench cannot break unseen).

1. Calls: for each level N, SIPp places N simultaneous calls through Kamailio to a
   number in voicemail mode; each caller plays SIPp's 7.08 s recording after the beep
   and hangs up. Every stored WAV is checked for the recording's 56,640 samples bit for
   bit, the emails aiosmtpd received are counted, and the CPU of the renvoi process and
   its children (the transcriptions run in children) is read from /proc, per minute of
   audio recorded; once with transcription off, once with PocketSphinx.
2. Word error rate: English sentences spoken by espeak-ng, through G.711 (PCMA) as a
   call carries them, transcribed as the worker does; WER by jiwer.
3. MP3: each bitrate's bytes per minute, the decoded audio's correlation with the
   recording (miniaudio decodes), and LAME's CPU per minute.

Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import httpx2
import jiwer
import miniaudio
from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from renvoi.audio import g711
from renvoi.audio.mp3 import BITRATES, mp3_of_pcm
from renvoi.audio.speech import speak
from renvoi.store.database import Database
from renvoi.store.migrate import upgrade
from tests.harness import free_port, free_udp_port, make_tenant
from tests.harness.platform import start_platform
from tests.harness.sipp import PCAP, pcap_samples, run_sipp, voicemail_caller_scenario

NUMBER = "+33757000001"


class Counter:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.count += 1
        return "250 OK"


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, its threads and its children that ended, from
    /proc (utime, stime, cutime, cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def intact(spool: Path, expected: bytes) -> tuple[int, int]:
    """Messages stored, and how many hold the whole recording."""
    stored = whole = 0
    for path in spool.rglob("*.wav"):
        stored += 1
        with wave.open(str(path)) as wav:
            whole += expected in wav.readframes(wav.getnframes())
    return stored, whole


def run(level: int, workdir: Path, expected: bytes, *, transcribe: bool) -> str:
    url = f"sqlite:///{workdir / 'bench.db'}"
    db = Database(url)
    upgrade(db)
    tenant = make_tenant(db, "bench", [NUMBER])
    db.dispose()
    counter, smtp_port = Counter(), free_port()
    smtp = Controller(counter, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    platform = start_platform(
        url,
        workdir / "platform",
        extra_env={
            "RENVOI_SMTP_PORT": str(smtp_port),
            "RENVOI_LOG_LEVEL": "WARNING",
            "RENVOI_TRANSCRIBER": "pocketsphinx" if transcribe else "off",
            "RENVOI_VOICEMAIL_LANGUAGE": "en",
        },
    )
    try:
        httpx2.post(
            platform.api + "/v1/vn/callforward",
            json={"apiKey": tenant.key, "number": NUMBER, "type": 2, "param": "b@example.com"},
        )
        before = cpu_seconds(platform.server.process.pid)
        caller = run_sipp(
            workdir,
            "caller",
            voicemail_caller_scenario(number=NUMBER, wait_ms=4000, pcap=PCAP),
            port=free_udp_port(),
            remote=f"127.0.0.1:{platform.sip_port}",
            calls=level,
            extra=["-l", str(level), "-r", str(level), "-buff_size", "4194304"],
        )
        caller.wait(timeout=120)
        deadline = time.monotonic() + 60 + (10 * level if transcribe else 0)
        while counter.count < level and time.monotonic() < deadline:
            time.sleep(0.2)
        used = cpu_seconds(platform.server.process.pid) - before
        stored, whole = intact(workdir / "platform" / "voicemail", expected)
        recorded_minutes = whole * (len(expected) / 2 / 8000) / 60
        per_minute = used / recorded_minutes if recorded_minutes else float("nan")
        mode = "pocketsphinx" if transcribe else "off"
        return (
            f"| {level} | {mode} | {stored} | {whole} | {counter.count} | {used:.1f} "
            f"| {per_minute:.2f} |"
        )
    finally:
        platform.stop()
        smtp.stop()


SENTENCES = [
    "please call me back tomorrow morning about the invoice",
    "hello this is john from the bank your card is ready",
    "i will be late for the meeting today",
    "the delivery will arrive on monday between nine and noon",
    "can you send me the report before friday",
    "my number is five five five one two three four",
    "thank you for your help have a nice day",
    "we need to talk about the contract renewal",
]


def word_error_rate(sentences: list[str]) -> None:
    """PocketSphinx on espeak-ng's English through G.711, as the worker runs it."""
    print("\n| sentence | heard | WER |\n|---|---|---|")
    heard, seconds, cpu = [], 0.0, 0.0
    for sentence in sentences:
        pcm = g711.decode(g711.PCMA, g711.encode(g711.PCMA, speak(sentence, language="en")))
        seconds += len(pcm) / 2 / 8000
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(
            [sys.executable, "-m", "renvoi.audio", "transcribe", "pocketsphinx", "en", "60"],
            input=pcm,
            capture_output=True,
            check=True,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu += after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        heard.append(json.loads(out.stdout)["text"])
        print(f"| {sentence} | {heard[-1]} | {jiwer.wer(sentence, heard[-1]):.0%} |")
    print(
        f"\nWord error rate over {len(sentences)} sentences: {jiwer.wer(sentences, heard):.0%}; "
        f"CPU {cpu / seconds * 60:.1f} s per minute of audio (the process's start included)"
    )


def mp3_fidelity(pcm: bytes, bitrates: tuple[int, ...]) -> None:
    """Each bitrate's size per minute, and how close the decoded audio is."""
    print("\n| kbit/s | KB per minute | correlation with the recording | LAME CPU s per minute |")
    print("|---|---|---|---|")
    minutes = len(pcm) / 2 / 8000 / 60
    x = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    for kbps in bitrates:
        started = time.process_time()
        audio = mp3_of_pcm(pcm, kbps=kbps)
        cpu = time.process_time() - started
        decoded = miniaudio.decode(
            audio, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=8000
        ).samples
        best = 0.0
        for lag in range(2400):
            y = decoded[lag : lag + len(x)]
            if len(y) < len(x) * 0.95:
                break
            n = len(y)
            dot = sum(a * b for a, b in zip(x[:n:3], y[::3], strict=True))
            if dot > best:
                energy = math.sqrt(sum(a * a for a in x[:n:3]) * sum(b * b for b in y[::3]))
                best = max(best, dot / energy)
        print(f"| {kbps} | {len(audio) / minutes / 1000:.0f} | {best:.3f} | {cpu / minutes:.2f} |")
    print(f"\n(WAV: {2 * 8000 * 60 / 1000:.0f} KB per minute)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", default="1,10,25,50", help="simultaneous calls")
    parser.add_argument(
        "--transcribed-levels", default="1,10", help="simultaneous calls, transcription on"
    )
    parser.add_argument("--smoke", action="store_true", help="one call each way (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.levels = args.transcribed_levels = "1"
    expected = pcap_samples(PCAP)
    print(
        "| simultaneous calls | transcription | messages stored | intact (bit for bit) | "
        "emails | renvoi CPU s | CPU s per recorded minute |"
    )
    print("|---|---|---|---|---|---|---|")
    for levels, transcribe in ((args.levels, False), (args.transcribed_levels, True)):
        for level in (int(n) for n in levels.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                print(run(level, Path(tmp), expected, transcribe=transcribe), flush=True)
    word_error_rate(SENTENCES[:2] if args.smoke else SENTENCES)
    mp3_fidelity(expected, (16,) if args.smoke else BITRATES)


if __name__ == "__main__":
    main()
