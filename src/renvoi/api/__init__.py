"""The HTTP edge: the customer API (one module per resource), the admin API, health, and
the internal endpoints Kamailio calls (``routing.py``, on a listener of their own);
errors become answers here (``errors.py``), and nowhere else.
"""
