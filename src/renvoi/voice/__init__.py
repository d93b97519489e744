"""The call side: the Kamailio configuration renvoi generates (and, later, voicemail).

Kamailio is the SIP proxy; it keeps no business logic. On every new INVITE it asks the
route endpoint (``api/routing.py``) what to do and applies the answer.
"""
