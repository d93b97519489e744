"""The voicemail email: bilingual, the audio attached (or linked), no header injection."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from renvoi.domain.voicemail import (
    FAILED,
    MAX_TRANSCRIPT,
    NO_LANGUAGE,
    NO_MODEL,
    NOTHING_HEARD,
    TRANSCRIBED,
    NewMessage,
    Transcribed,
    clean_caller,
    clean_transcript,
    compose,
    header_address,
    retry_delay,
    transcript_json,
)
from renvoi.errors import PermanentDeliveryError

MESSAGE = NewMessage(
    number="+33757000001",
    caller="+33140000001",
    received_at=datetime(2026, 11, 28, 13, 5, tzinfo=UTC),
    duration_ms=83_400,
    recipient="ann@example.com",
    message_id="<voicemail.abc@renvoi.test>",
    audio_name="message.wav",
)


def test_the_email_names_the_number_the_caller_the_date_and_the_length() -> None:
    email = compose(MESSAGE, sender="voicemail@renvoi.test", audio=b"RIFF....")
    assert email["Subject"] == "Nouveau message vocal / New voicemail: +33757000001, +33140000001"
    assert (email["From"], email["To"]) == ("voicemail@renvoi.test", "ann@example.com")
    assert email["Message-ID"] == "<voicemail.abc@renvoi.test>"
    text = email.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "28/11/2026 à 14:05 (heure de Paris)" in text  # 13:05 UTC in winter
    assert "2026-11-28 at 14:05 (Paris time)" in text
    assert "Durée : 1:23" in text and "Length: 1:23" in text
    [audio] = list(email.iter_attachments())
    assert audio.get_content_type() == "audio/wav" and audio.get_filename() == "message.wav"
    assert audio.get_content() == b"RIFF...."


def test_a_recording_too_large_is_linked_instead() -> None:
    email = compose(MESSAGE, sender="v@x.test", audio=None, link="https://api.test/a")
    assert list(email.iter_attachments()) == []
    text = email.get_content()
    assert "https://api.test/a" in text and "trop long" in text


def test_a_withheld_caller_is_said_so() -> None:
    # Nothing printable left of the caller: shown as withheld.
    email = compose(replace(MESSAGE, caller="\x00\x07"), sender="v@x.test", audio=None)
    assert email["Subject"].endswith("numéro masqué")
    assert "From: withheld number" in email.get_content()


@pytest.mark.parametrize(
    "caller",
    ["+331\r\nBcc: victim@example.com", "+331\nSubject: free money", "x" * 500],
)
def test_no_field_can_add_a_header(caller: str) -> None:
    email = compose(replace(MESSAGE, caller=caller), sender="v@x.test", audio=None)
    wire = email.as_bytes()
    head = wire.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in wire else wire.split(b"\n\n", 1)[0]
    assert b"\nBcc:" not in head and b"\nSubject: free" not in head
    assert email["Bcc"] is None
    assert len(email["Subject"]) < 200


@pytest.mark.parametrize(
    ("caller", "shown"),
    [
        pytest.param(None, None, id="none"),
        pytest.param(" +33 1  40 ", "+33 1 40", id="spaces"),
        pytest.param("anonymous", "anonymous", id="name"),
        pytest.param("*31#+331.40_00-01", "*31#+331.40_00-01", id="dial-characters"),
        pytest.param("=?utf-8?q?=0D=0AX?=", "utf-8q0D0AX", id="encoded-word-defused"),
        pytest.param('"A" <sip:a@b>;(c)', "A sipabc", id="header-syntax-dropped"),
        pytest.param("é\u2028\x85", None, id="nothing-left"),
    ],
)
def test_clean_caller_keeps_only_what_no_header_can_misread(
    caller: str | None, shown: str | None
) -> None:
    assert clean_caller(caller) == shown


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("=?utf-8?q?a=0D=0ABcc=3A_v=40x?=@example.com", id="encoded-word"),
        pytest.param("a\r\n@example.com", id="line-break"),
        pytest.param("no-at-sign", id="no-at"),
    ],
)
def test_an_address_no_header_can_hold_is_refused_for_good(address: str) -> None:
    with pytest.raises(PermanentDeliveryError):
        header_address(address)


def test_the_recipient_is_written_in_its_ascii_form() -> None:
    email = compose(replace(MESSAGE, recipient="ann@exämple.fr"), sender="v@x.test", audio=None)
    assert email["To"] == "ann@xn--exmple-cua.fr"


def test_retries_back_off_to_an_hour() -> None:
    assert [retry_delay(n) for n in (0, 1, 2, 3)] == [5.0, 5.0, 10.0, 20.0]
    assert retry_delay(40) == 3600.0


@pytest.mark.parametrize(
    ("transcribed", "english", "french"),
    [
        (
            Transcribed(TRANSCRIBED, "en", "call me back"),
            "Automatic transcript (it may be wrong):\ncall me back\n",
            "Transcription automatique (elle peut être inexacte) :\ncall me back\n",
        ),
        (
            Transcribed(NOTHING_HEARD, "en"),
            "No transcript: nothing could be made out.\n",
            "Pas de transcription : rien n’a pu être compris.\n",
        ),
        (
            Transcribed(NO_MODEL, "fr"),
            "No transcript: this server has no model for French.\n",
            "Pas de transcription : ce serveur n’a pas de modèle pour le français.\n",
        ),
        (
            Transcribed(NO_MODEL, None),
            "No transcript: this server has no model for it.\n",
            "Pas de transcription : ce serveur n’a pas de modèle pour elle.\n",
        ),
        (
            Transcribed(NO_LANGUAGE),
            "No transcript: no language is set for this number's messages.\n",
            "Pas de transcription : aucune langue n’est choisie pour les messages de ce numéro.\n",
        ),
        (
            Transcribed(FAILED, "en"),
            "No transcript: transcription failed.\n",
            "Pas de transcription : la transcription a échoué.\n",
        ),
    ],
)
def test_the_email_says_what_became_of_the_transcript(
    transcribed: Transcribed, english: str, french: str
) -> None:
    assert transcribed.lines("en") == english and transcribed.lines("fr") == french
    body = compose(replace(MESSAGE, transcript=transcribed), sender="v@renvoi.test", audio=None)
    text = body.get_content()
    assert english in text and french in text


def test_without_transcription_the_email_says_nothing_of_it() -> None:
    text = compose(MESSAGE, sender="v@renvoi.test", audio=None).get_content()
    assert "transcri" not in text.lower()
    assert transcript_json(None) is None
    assert transcript_json(Transcribed(TRANSCRIBED, "en", "hi")) == {
        "state": "done",
        "language": "en",
        "text": "hi",
    }


def test_an_engines_words_are_cleaned_before_anyone_reads_them() -> None:
    assert clean_transcript("  call\r\nme\x00  back\u2028now ") == "call me back now"
    assert len(clean_transcript("word " * 5000)) == MAX_TRANSCRIPT


def test_an_mp3_is_attached_as_audio_mpeg() -> None:
    mp3 = replace(MESSAGE, audio_format="mp3", audio_name="message.mp3")
    [part] = compose(mp3, sender="v@renvoi.test", audio=b"\xff\xe3").iter_attachments()
    assert (part.get_content_type(), part.get_filename()) == ("audio/mpeg", "message.mp3")
