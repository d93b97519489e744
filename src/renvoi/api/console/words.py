"""The console's words in French; English is the key. The contract's messages come from
``domain.codes``, as the API's do."""

from __future__ import annotations

from renvoi.domain.codes import Language

FRENCH: dict[str, str] = {
    "renvoi console": "console renvoi",
    "Skip to the content": "Aller au contenu",
    "API key": "Clé API",
    "Sign in": "Se connecter",
    "Sign out": "Se déconnecter",
    "Sign in with your account's API key.": "Connectez-vous avec la clé API de votre compte.",
    "Your numbers": "Vos numéros",
    "You have no numbers yet.": "Vous n’avez pas encore de numéro.",
    "Number": "Numéro",
    "State": "État",
    "Off": "Désactivé",
    "Forward calls": "Renvoyer les appels",
    "Voicemail": "Messagerie",
    "Forward to": "Renvoyer vers",
    "Email": "E-mail",
    "Save": "Enregistrer",
    "Forwarding": "Renvoi",
    "What calls do": "Ce que deviennent les appels",
    "Fallbacks": "Renvois conditionnels",
    "When the phone calls ring does not take them.": (
        "Quand le téléphone qui sonne ne prend pas l’appel."
    ),
    "If busy": "Si occupé",
    "If no answer": "Si pas de réponse",
    "If unavailable": "Si injoignable",
    "Ring time (seconds)": "Durée de sonnerie (secondes)",
    "Save fallbacks": "Enregistrer les renvois conditionnels",
    "Fallbacks unchanged": "Renvois conditionnels inchangés",
    "Greeting": "Annonce",
    "What callers hear:": "Ce qu’entendent les appelants :",
    "Greeting file": "Fichier d’annonce",
    "Greeting text": "Texte de l’annonce",
    "A WAV file of at most 30 s, or a text read aloud.": (
        "Un fichier WAV de 30 s au plus, ou un texte lu à voix haute."
    ),
    "Upload": "Envoyer",
    "Use default greeting": "Utiliser l’annonce par défaut",
    "Send a file or a text": "Envoyez un fichier ou un texte",
    "Activity": "Activité",
    "Voicemail settings": "Réglages de la messagerie",
    "Empty: the account's or the installation's choice, shown in brackets.": (
        "Vide : le choix du compte ou de l’installation, indiqué entre crochets."
    ),
    "Longest message (seconds)": "Message le plus long (secondes)",
    "Shortest message kept (seconds)": "Message le plus court conservé (secondes)",
    "Hang up after a silence of (seconds)": "Raccrocher après un silence de (secondes)",
    "Language of the greeting and transcripts": "Langue de l’annonce et des transcriptions",
    "Default": "Par défaut",
    "Audio sent by email": "Audio envoyé par e-mail",
    "Save settings": "Enregistrer les réglages",
    "History": "Historique",
    "Calls": "Appels",
    "Delete": "Supprimer",
    "Deleted": "Supprimé",
    "No changes yet.": "Aucune modification pour l’instant.",
    "No calls yet.": "Aucun appel pour l’instant.",
    "No messages.": "Aucun message.",
    "When": "Quand",
    "Change": "Modification",
    "By": "Par",
    "Caller": "Appelant",
    "Action": "Action",
    "Destination": "Destination",
    "Status": "Statut",
    "Duration": "Durée",
    "withheld": "masqué",
    "Transcript": "Transcription",
    "From": "De",
    "Received": "Reçu",
    "Length": "Durée",
    "Forwarding to {}": "Renvoi vers {}",
    "Voicemail to {}": "Messagerie vers {}",
    "suspended": "suspendu",
    "SMS only": "SMS uniquement",
    "primary": "principal",
    "busy": "occupé",
    "noAnswer": "pas de réponse",
    "unavailable": "injoignable",
    "ring {} s": "sonnerie {} s",
    "All numbers": "Tous les numéros",
    "Not found": "Introuvable",
    "This page does not exist, or is not yours.": (
        "Cette page n’existe pas, ou n’est pas la vôtre."
    ),
    "Refused": "Refusé",
    "This form has expired or did not come from this console; reload the page and try again.": (
        "Ce formulaire a expiré ou ne vient pas de cette console ; rechargez la page et "
        "recommencez."
    ),
    "Your session has ended; sign in again.": "Votre session est terminée ; reconnectez-vous.",
}


def say(text: str, language: Language, *args: object) -> str:
    """``text`` in ``language``, its ``{}`` filled with ``args``."""
    said = FRENCH.get(text, text) if language == "fr" else text
    return said.format(*args) if args else said
