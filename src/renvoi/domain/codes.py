"""The contract's codes and their messages, in English and French.

The English messages are ``contract/callforward.md``'s (21 and 22:
``contract/conditions.md``'s); the French ones are the SMS
Partner page's table where it has them, ours where it is silent (invalid key, codes 4, 19
and 20, the reasons of code 12). Success messages are English in both languages: the
contract fixes those bodies byte for byte. HTTP statuses are not here: they belong to the
HTTP edge (``api/errors.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

Language = Literal["en", "fr"]


class Code(IntEnum):
    """Every code the API answers with (contract/callforward.md)."""

    CALLFORWARD_ENABLED = 1
    CALLFORWARD_DISABLED = 2
    VOICEMAIL_ENABLED = 3
    BAD_REQUEST = 4
    NUMBER_REQUIRED = 5
    TYPE_REQUIRED = 6
    TYPE_INVALID = 7
    PARAM_REQUIRED = 8
    EMAIL_INVALID = 9
    API_KEY = 10
    FORWARD_INVALID = 12
    NUMBER_NOT_FOUND = 13
    NO_CALL_FORWARDING = 14
    NUMBER_DISABLED = 15
    ALREADY_FORWARDING = 16
    ALREADY_VOICEMAIL = 17
    ALREADY_DISABLED = 18
    TOO_MANY_REQUESTS = 19
    UNAVAILABLE = 20
    # contract/conditions.md: the fallbacks' endpoint.
    CONDITION = 21
    RING_TIME = 22
    VOICEMAIL_SETTING = 23
    # The read extensions answer with the platform's generic success code.
    OK = 200


@dataclass(frozen=True)
class Text:
    """One message in both languages."""

    en: str
    fr: str

    def in_(self, language: Language) -> str:
        return self.fr if language == "fr" else self.en


# Messages keyed by the detail that produced them; a code's default detail is its name.
MESSAGES: dict[str, Text] = {
    "CALLFORWARD_ENABLED": Text("Callforward enabled", "Callforward enabled"),
    "CALLFORWARD_DISABLED": Text("Callforward disabled", "Callforward disabled"),
    "VOICEMAIL_ENABLED": Text("Voicemail enabled", "Voicemail enabled"),
    "OK": Text("OK", "OK"),
    "NUMBER_REQUIRED": Text("Virtual number is required", "Le numéro virtuel est requis"),
    "TYPE_REQUIRED": Text("Type is required", "Le type est requis"),
    "TYPE_INVALID": Text("Type is not valid", "Le type n’est pas valide"),
    "PARAM_REQUIRED": Text("param is required", "param est requis"),
    "EMAIL_INVALID": Text("Email is not valid", "L’email n’est pas valide"),
    "API_KEY": Text("API key is required", "La Clé API est requise"),
    "api_key_invalid": Text("API key is invalid", "La Clé API n’est pas valide"),
    "FORWARD_INVALID": Text(
        "Forward number is not valid", "Le numéro de transfert n’est pas valide"
    ),
    "NUMBER_NOT_FOUND": Text("Virtual number does not exist", "Le numéro virtuel n’existe pas"),
    "NO_CALL_FORWARDING": Text(
        "Call forwarding is not enabled for this number", "Le transfert d’appel n’est pas activé"
    ),
    "NUMBER_DISABLED": Text("Number is disabled", "Le numéro est désactivé"),
    "ALREADY_FORWARDING": Text(
        "Callforward already enabled", "Le transfert d’appel est déjà activé"
    ),
    "ALREADY_VOICEMAIL": Text("Voicemail already enabled", "La messagerie est déjà activée"),
    "ALREADY_DISABLED": Text(
        "Callforward already disabled", "Le transfert d’appel est déjà désactivé"
    ),
    "CONDITION": Text("Condition is not valid", "La condition n’est pas valide"),
    "condition_required": Text("Condition is required", "La condition est requise"),
    "RING_TIME": Text("Ring time is not valid", "La durée de sonnerie n’est pas valide"),
    "VOICEMAIL_SETTING": Text(
        "Voicemail setting is not valid", "Le réglage de la messagerie n’est pas valide"
    ),
    "TOO_MANY_REQUESTS": Text("Too many requests", "Trop de requêtes"),
    "UNAVAILABLE": Text("Service temporarily unavailable", "Service temporairement indisponible"),
    "internal": Text("Internal server error", "Erreur interne du serveur"),
    # Code 4: the ways a request can be malformed.
    "BAD_REQUEST": Text("Bad request", "Requête invalide"),
    "invalid_json": Text("Body is not valid JSON", "Le corps n’est pas un JSON valide"),
    "not_object": Text("Body must be a JSON object", "Le corps doit être un objet JSON"),
    "invalid_form": Text("Body is not a valid form", "Le corps n’est pas un formulaire valide"),
    "unsupported_type": Text(
        "Unsupported Content-Type: send JSON or a form",
        "Content-Type non pris en charge : envoyez du JSON ou un formulaire",
    ),
    "too_large": Text("Body is larger than 65536 bytes", "Le corps dépasse 65536 octets"),
    "unknown_setting": Text(
        "Unknown field: send maxSeconds, minSeconds, silenceSeconds, language or audioFormat",
        "Champ inconnu : envoyez maxSeconds, minSeconds, silenceSeconds, language ou audioFormat",
    ),
    "invalid_dry_run": Text("dryRun must be true or false", "dryRun doit valoir true ou false"),
    "invalid_audio": Text(
        "Body is not a usable WAV file: PCM, mono or stereo, 8 to 192 kHz, at most 30 s",
        "Le corps n’est pas un fichier WAV utilisable : PCM, mono ou stéréo, "
        "8 à 192 kHz, 30 s au plus",
    ),
    "invalid_speech": Text(
        'Text-to-speech needs {"text": 1 to 500 characters, "language": fr or en} '
        "and espeak-ng on the server",
        'La synthèse vocale demande {"text": 1 à 500 caractères, "language": fr ou en} '
        "et espeak-ng sur le serveur",
    ),
    "audio_too_large": Text("Audio is larger than 8388608 bytes", "L’audio dépasse 8388608 octets"),
    # Why an uploaded greeting is refused (``audio.wav.AudioError``'s reasons).
    "audio_multipart": Text(
        "Send the WAV file itself as the body (Content-Type: audio/wav), not a form",
        "Envoyez le fichier WAV lui-même comme corps (Content-Type: audio/wav), pas un formulaire",
    ),
    "audio_not_wav": Text(
        "Body is not a WAV file: send a PCM WAV, mono or stereo, 8 to 192 kHz, at most 30 s",
        "Le corps n’est pas un fichier WAV : envoyez un WAV PCM, mono ou stéréo, "
        "8 à 192 kHz, 30 s au plus",
    ),
    "audio_format": Text(
        "The WAV file is not PCM, mono or stereo, 8 to 192 kHz",
        "Le fichier WAV n’est pas en PCM, mono ou stéréo, de 8 à 192 kHz",
    ),
    "audio_too_long": Text("The greeting lasts more than 30 s", "L’annonce dure plus de 30 s"),
    "audio_text": Text(
        "The text to speak is 1 to 500 characters", "Le texte à lire fait 1 à 500 caractères"
    ),
    "audio_no_speech": Text(
        "Text-to-speech is not available on this server",
        "La synthèse vocale n’est pas disponible sur ce serveur",
    ),
    "not_found": Text("Not found", "Ressource introuvable"),
    "method_not_allowed": Text("Method not allowed", "Méthode non autorisée"),
    "unauthorized": Text(
        "Admin token is missing or invalid", "Jeton d’administration absent ou invalide"
    ),
    "invalid_query": Text("Invalid query parameters", "Paramètres de requête invalides"),
    "invalid_body": Text("Invalid body", "Corps de requête invalide"),
}


@dataclass(frozen=True)
class Reason:
    """Why a value was refused: the tail of code 12's message (a forward destination) and
    of code 23's (a voicemail setting).

    ``key`` names a text of ``REASONS``; ``args`` fill its ``{placeholders}``.
    """

    key: str
    args: dict[str, str | Text] = field(default_factory=dict)

    def in_(self, language: Language) -> str:
        args = {k: v.in_(language) if isinstance(v, Text) else v for k, v in self.args.items()}
        return REASONS[self.key].in_(language).format(**args)


REASONS: dict[str, Text] = {
    "invalid": Text("not a valid phone number", "ce n’est pas un numéro de téléphone valide"),
    "not_dialable": Text(
        "it cannot be dialled internationally", "il n’est pas joignable depuis l’international"
    ),
    "refused_type": Text("{kind} numbers are refused", "les numéros {kind} sont refusés"),
    "self": Text(
        "a number cannot forward to itself", "un numéro ne peut pas être renvoyé vers lui-même"
    ),
    "loop": Text("it would make a forwarding loop ({chain})", "cela créerait une boucle ({chain})"),
    "loop_untold": Text("it would make a forwarding loop", "cela créerait une boucle"),
    "setting": Text("{field} must be {rule}", "{field} doit être {rule}"),
    "country": Text(
        "calls to {region} are not allowed for this account",
        "les appels vers {region} ne sont pas autorisés pour ce compte",
    ),
}


def message(
    code: Code,
    *,
    language: Language = "en",
    detail: str | None = None,
    reason: Reason | None = None,
) -> str:
    """Render the message of a code.

    Args:
        code: the contract code.
        language: ``"fr"`` or ``"en"``.
        detail: a key of ``MESSAGES`` when the code has more than one message
            (code 4's variants, the invalid key of code 10, the absent condition of
            code 21, code 20's internal fault).
        reason: for codes 12 and 23, why the value was refused.
    """
    text = MESSAGES[detail or code.name].in_(language)
    if reason is None:
        return text
    separator = " : " if language == "fr" else ": "
    return f"{text}{separator}{reason.in_(language)}"
