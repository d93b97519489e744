"""The call side: the Kamailio configuration renvoi generates, and the voicemail endpoint.

Kamailio is the SIP proxy; it keeps no business logic. On every new INVITE it asks the
route endpoint (``api/routing.py``) what to do and applies the answer. Voicemail calls
reach the endpoint here (``endpoint.py``), a SIP user agent server of renvoi's own.
"""
