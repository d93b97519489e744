"""renvoi: call forwarding for virtual phone numbers.

Packages: ``domain`` (the pure rules), ``store`` (the database), ``api`` (HTTP),
``voice`` (SIP and media), ``notify`` (email); ``cli`` is the ``renvoi`` command.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("renvoi")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
