"""The voicemail email, composed (sent by ``renvoi.notify``), and the retry schedule.

Every field that reaches a header is checked or cleaned here: the caller's number comes
from a SIP ``From`` header anyone can write, so it is reduced to printable characters
before it appears anywhere. ``email.message.EmailMessage`` then refuses any header value
with a line break, so no field can add a header (CWE-93).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
MAX_CALLER = 64
UNKNOWN_CALLER = {"fr": "numéro masqué", "en": "withheld number"}


@dataclass(frozen=True, slots=True)
class NewMessage:
    """What the email says about one message."""

    number: str  # the virtual number, E.164
    caller: str | None
    received_at: datetime  # aware
    duration_ms: int
    recipient: str
    message_id: str  # stable across retries: <...@...>
    audio_name: str  # file name of the attachment


def clean_caller(caller: str | None) -> str | None:
    """The caller as shown: printable characters only, at most 64 of them."""
    if caller is None:
        return None
    kept = "".join(c for c in caller if c.isprintable())[:MAX_CALLER].strip()
    return kept or None


def _duration(ms: int) -> str:
    seconds = round(ms / 1000)
    return f"{seconds // 60}:{seconds % 60:02d}"


def compose(
    message: NewMessage,
    *,
    sender: str,
    audio: bytes | None,
    link: str | None = None,
) -> EmailMessage:
    """The email for a new message, in French then English.

    Args:
        audio: the WAV to attach, or None when it is too large; then ``link`` says
            where to fetch it.
    """
    caller = clean_caller(message.caller)
    local = message.received_at.astimezone(PARIS)
    when_fr = local.strftime("%d/%m/%Y à %H:%M")
    when_en = local.strftime("%Y-%m-%d at %H:%M")
    duration = _duration(message.duration_ms)
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = (
        f"Nouveau message vocal / New voicemail: {message.number}, {caller or UNKNOWN_CALLER['fr']}"
    )
    email["Date"] = format_datetime(message.received_at)
    email["Message-ID"] = message.message_id
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    fetch_fr = fetch_en = ""
    if audio is None and link:
        fetch_fr = f"\nLe message est trop long pour être joint ; écoutez-le ici : {link}\n"
        fetch_en = f"\nThe message is too long to attach; listen to it here: {link}\n"
    email.set_content(
        f"Vous avez un nouveau message vocal sur le {message.number}.\n\n"
        f"De : {caller or UNKNOWN_CALLER['fr']}\n"
        f"Reçu le : {when_fr} (heure de Paris)\n"
        f"Durée : {duration}\n"
        f"{fetch_fr}\n"
        "---\n\n"
        f"You have a new voicemail on {message.number}.\n\n"
        f"From: {caller or UNKNOWN_CALLER['en']}\n"
        f"Received: {when_en} (Paris time)\n"
        f"Length: {duration}\n"
        f"{fetch_en}"
    )
    if audio is not None:
        email.add_attachment(audio, maintype="audio", subtype="wav", filename=message.audio_name)
    return email


def retry_delay(attempts: int) -> float:
    """Seconds before the next try, after ``attempts`` failed ones: 5 s doubling, at most
    an hour."""
    return float(min(5 * 2 ** max(attempts - 1, 0), 3600))
