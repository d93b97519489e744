"""Audio: G.711, WAV and the conversions greetings need, shared by the API (which
converts uploaded greetings) and the voicemail endpoint (which plays and records).

Nothing here knows of SIP, HTTP or the database.
"""
