"""The voicemail email, composed (sent by ``renvoi.notify``), and the retry schedule.

Every field that reaches a header is made safe here, by construction rather than by
trusting the email package (CWE-93): Python's parses header values it is given, decodes
RFC 2047 encoded words in them, and before 3.11.10 wrote a decoded line break out raw
(CVE-2024-6923). So the caller, from a SIP ``From`` anyone can write, keeps only the
characters of a phone number or a SIP user name, none of which can form header syntax;
and a recipient whose address could be read as an encoded word is never put in a header.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from renvoi.domain.codes import Text
from renvoi.domain.emails import ascii_form
from renvoi.errors import PermanentDeliveryError

PARIS = ZoneInfo("Europe/Paris")
MAX_CALLER = 64
UNKNOWN_CALLER = {"fr": "numéro masqué", "en": "withheld number"}
# What a caller keeps wherever it is shown: the characters of a phone number or a SIP
# user name. No "=" or "?" (an encoded word), no line break, quote, comment or address
# syntax: nothing an email package could read as anything but text.
_SHOWN = frozenset(string.ascii_letters + string.digits + " +*#._-")


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
    audio_format: str = "wav"  # or "mp3"
    transcript: Transcribed | None = None  # None: transcription is off


# What became of a message's transcription (``Transcribed.state``).
TRANSCRIBED = "done"
NOTHING_HEARD = "empty"
NO_MODEL = "unsupported"  # no model for the number's language
NO_LANGUAGE = "no_language"  # the number's language is not known: no guess
FAILED = "failed"  # the engine failed, or ran out of its CPU time
TRANSCRIPT_STATES = (TRANSCRIBED, NOTHING_HEARD, NO_MODEL, NO_LANGUAGE, FAILED)
MAX_TRANSCRIPT = 10_000

FOR_LANGUAGE = {
    "fr": Text("for French", "pour le français"),
    "en": Text("for English", "pour l’anglais"),
}


@dataclass(frozen=True, slots=True)
class Transcribed:
    """A message's transcript, or why it has none."""

    state: str  # one of TRANSCRIPT_STATES
    language: str | None = None
    text: str | None = None  # with TRANSCRIBED only

    def lines(self, language: str) -> str:
        """What the email says of it, in ``language`` (``fr`` or ``en``)."""
        fr = language == "fr"
        if self.state == TRANSCRIBED and self.text:
            head = (
                "Transcription automatique (elle peut être inexacte) :"
                if fr
                else "Automatic transcript (it may be wrong):"
            )
            return f"{head}\n{self.text}\n"
        named = FOR_LANGUAGE.get(self.language or "", Text("for it", "pour elle"))
        why = {
            NOTHING_HEARD: Text("nothing could be made out", "rien n’a pu être compris"),
            NO_MODEL: Text(
                f"this server has no model {named.en}", f"ce serveur n’a pas de modèle {named.fr}"
            ),
            NO_LANGUAGE: Text(
                "no language is set for this number's messages",
                "aucune langue n’est choisie pour les messages de ce numéro",
            ),
        }.get(self.state, Text("transcription failed", "la transcription a échoué"))
        return f"Pas de transcription : {why.fr}.\n" if fr else f"No transcript: {why.en}.\n"


def transcript_json(transcript: Transcribed | None) -> dict[str, str | None] | None:
    """A message's transcript as the API and the webhook's event show it (None: off)."""
    if transcript is None:
        return None
    return {"state": transcript.state, "language": transcript.language, "text": transcript.text}


def clean_transcript(text: str) -> str:
    """An engine's words as the email and the API show them: printable characters only,
    spaces collapsed, at most ``MAX_TRANSCRIPT`` of them."""
    kept = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(kept.split())[:MAX_TRANSCRIPT]


def clean_caller(caller: str | None) -> str | None:
    """The caller as shown, in the subject and the body: only the characters of a phone
    number or a SIP user name (letters, digits, space, ``+*#._-``), at most 64 of them;
    None when nothing is left."""
    if caller is None:
        return None
    kept = "".join(c for c in caller if c in _SHOWN)[:MAX_CALLER]
    return " ".join(kept.split()) or None


def header_address(address: str) -> Address:
    """``address`` as a header's mailbox, when it can be one safely: in its ASCII form
    where it has one (``emails.ascii_form``), else as it is, for a server offering
    SMTPUTF8.

    Raises:
        PermanentDeliveryError: the address holds a line break or ``=?``, which an
            email package may read as an RFC 2047 encoded word (RFC 2047 §5 forbids
            them in an address); no email can be sent to it.
    """
    if "=?" in address or any(ord(c) < 0x20 or ord(c) == 0x7F for c in address):
        raise PermanentDeliveryError(f"{address!r} cannot be written in an email header")
    local, at, domain = (ascii_form(address) or address).rpartition("@")
    if not (at and local and domain):
        raise PermanentDeliveryError(f"{address!r} is not an email address")
    return Address(username=local, domain=domain)


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
        audio: the recording to attach (``message.audio_format``), or None when it is
            too large; then ``link`` says where to fetch it.

    Raises:
        PermanentDeliveryError: the recipient cannot be put in a header (``header_address``).
    """
    caller = clean_caller(message.caller)
    local = message.received_at.astimezone(PARIS)
    when_fr = local.strftime("%d/%m/%Y à %H:%M")
    when_en = local.strftime("%Y-%m-%d at %H:%M")
    duration = _duration(message.duration_ms)
    email = EmailMessage()
    email["From"] = sender
    email["To"] = header_address(message.recipient)
    email["Subject"] = (
        f"Nouveau message vocal / New voicemail: {message.number}, {caller or UNKNOWN_CALLER['fr']}"
    )
    email["Date"] = format_datetime(message.received_at)
    email["Message-ID"] = message.message_id
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    said_fr = said_en = ""
    if message.transcript is not None:
        said_fr = "\n" + message.transcript.lines("fr")
        said_en = "\n" + message.transcript.lines("en")
    fetch_fr = fetch_en = ""
    if audio is None and link:
        fetch_fr = f"\nLe message est trop long pour être joint ; écoutez-le ici : {link}\n"
        fetch_en = f"\nThe message is too long to attach; listen to it here: {link}\n"
    email.set_content(
        f"Vous avez un nouveau message vocal sur le {message.number}.\n\n"
        f"De : {caller or UNKNOWN_CALLER['fr']}\n"
        f"Reçu le : {when_fr} (heure de Paris)\n"
        f"Durée : {duration}\n"
        f"{said_fr}"
        f"{fetch_fr}\n"
        "---\n\n"
        f"You have a new voicemail on {message.number}.\n\n"
        f"From: {caller or UNKNOWN_CALLER['en']}\n"
        f"Received: {when_en} (Paris time)\n"
        f"Length: {duration}\n"
        f"{said_en}"
        f"{fetch_en}"
    )
    if audio is not None:
        subtype = "mpeg" if message.audio_format == "mp3" else "wav"
        email.add_attachment(audio, maintype="audio", subtype=subtype, filename=message.audio_name)
    return email


def retry_delay(attempts: int) -> float:
    """Seconds before the next try, after ``attempts`` failed ones: 5 s doubling, at most
    an hour."""
    return float(min(5 * 2 ** max(attempts - 1, 0), 3600))
