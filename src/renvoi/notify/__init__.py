"""Notifications: the outbox worker that emails new voicemail messages and calls the
webhook, through senders that plug in (``mailer.Mailer``: SMTP, or in memory;
``webhook.Poster``: HTTP).

What an email says is composed in ``renvoi.domain.voicemail``; this package only sends,
retries and records the outcome in the outbox (``renvoi.store.voicemail``).
"""
