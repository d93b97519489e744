"""``python -m renvoi``: the same as the ``renvoi`` command."""

from __future__ import annotations

from renvoi.cli import main

main()
