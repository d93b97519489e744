"""The voicemail endpoint's protocols without I/O: SIP messages, SDP, RTP.

Bytes in, values out, and back (as Flask's ``sansio`` package separates request logic
from the server): unit-tested and fuzzed on their own; ``voice/endpoint.py`` does the
sockets and timers.
"""
