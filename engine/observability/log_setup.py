"""The process's logging: one handler on stderr, text or JSON, at ``TURNOUT_LOG_LEVEL``.

The database drivers (SQLAlchemy, aiosqlite, asyncpg, Alembic) log every statement and
connection step at debug level, hundreds of lines that bury the gateway's own: they are
held at WARNING unless ``TURNOUT_LOG_SQL`` asks for them (then SQLAlchemy's statements are
logged at INFO and the drivers follow the process level).
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from engine.observability.access_log import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATABASE_LOGGERS = ("sqlalchemy", "aiosqlite", "asyncpg", "alembic")


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a line is logged (a test may swap it)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        return None


def configure_logging(level: str, *, json: bool = False, sql: bool = False) -> None:
    """One stderr handler on the root logger in the chosen format (replacing the one an
    earlier call installed; other handlers stay).

    No line shows where it was logged from, nor the thread or process: the standard
    library is told not to look them up (the optimisations its documentation lists), about
    a third of what an access-log line costs."""
    logging._srcfile = None  # no caller lookup per record
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if json else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in DATABASE_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if sql else logging.WARNING)
    if sql:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
