"""What renvoi's request path is measured against (``bench/api.py``)."""
