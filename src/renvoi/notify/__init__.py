"""Notifications: the outbox worker that emails new voicemail messages (aiosmtplib).

What an email says is composed in ``renvoi.domain.voicemail``; this package only sends,
retries and records the outcome in the outbox (``renvoi.store.voicemail``).
"""
