"""The rules of renvoi, pure: no I/O.

Nothing in this package touches a database, the network, SMTP, the environment or the
clock: the current time, ids and settings are passed in as values, and lookups the rules
need (the next hop of a forwarding chain) are passed in as functions. This keeps every
rule table-testable, and lets the API, the route endpoint and the voicemail endpoint share
one implementation of the contract. ``ruff.toml`` beside this file bans the I/O modules
(TID251).
"""
