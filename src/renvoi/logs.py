"""Structured logging: structlog in front, the logging module behind, JSON or console.

Secrets never reach a log: request logs name the path, never the query string or the
body (where API keys travel), and ``redact`` masks any field named like a secret that a
caller passes by mistake.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_NAMES = ("apikey", "api_key", "password", "token", "authorization", "secret")


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor masking fields that hold secrets."""
    for name in list(event):
        if any(secret in name.lower().replace("-", "_") for secret in _SECRET_NAMES):
            event[name] = "[redacted]"
    return event


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted, not to the stream
    it was when logging was set up (which a test runner may have closed since)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure(*, level: str = "INFO", fmt: str = "auto") -> None:
    """Set up structlog and the logging module once, at process start.

    Args:
        fmt: ``json`` (one object a line), ``console`` (for people), or ``auto``:
            console when standard error is a terminal, JSON otherwise.
    """
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    structlog.configure(
        # Events below the level are dropped by the bound logger's method itself, before
        # any processor runs: the request path logs at INFO and DEBUG, and a WARNING
        # installation pays a no-op call for it, a third of what stdlib's BoundLogger
        # and its filter_by_level processor would cost.
        processors=[
            structlog.stdlib.filter_by_level,  # a stdlib logger set above the level
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = _Stderr()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log prints the query string, where an apiKey may travel: ours
    # (api/middleware.py) replaces it.
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic announces each of its plugins as it loads them: noise before every command.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
