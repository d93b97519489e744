"""renvoi: call forwarding for virtual phone numbers.

Packages, from the edge inward: ``cli`` (the ``renvoi`` command) and ``node`` (a running
node's processes); ``api`` (HTTP), ``voice`` (SIP and voicemail) and ``notify`` (emails
and webhooks), independent of each other; ``store`` (the database); ``audio``,
``config`` and ``logs``; ``domain`` (the pure rules); ``errors``. Each imports only
those after it (``pyproject.toml``'s import-linter contract).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("renvoi")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
