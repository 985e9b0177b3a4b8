"""A live status line on a terminal that log records do not run into.

On a TTY the line is redrawn in place (``\\r`` + erase to the end of the
line) and stays without a newline, so anything else written there would start
in the middle of it. While ``logging_around()`` is active, every logging
handler writing to the same terminal first erases the line and redraws it
under the record. Anywhere else (a pipe, a file) each update is a line of its
own and logging is left alone.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
from collections.abc import Iterator
from typing import TextIO

ERASE = "\r\x1b[K"


def stream_is_tty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):
        return False


def _same_file(a: object, b: object) -> bool:
    if a is b:
        return True
    try:
        return os.path.samestat(os.fstat(a.fileno()), os.fstat(b.fileno()))
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


class ProgressLine:
    def __init__(self, stream: TextIO, *, interactive: bool | None = None) -> None:
        self.stream = stream
        self.interactive = stream_is_tty(stream) if interactive is None else interactive
        # The text on screen now, without a newline after it ("" when none).
        self._text = ""
        # Progress comes from one thread, log records from any: one writer at a time.
        self._lock = threading.RLock()

    def show(self, text: str) -> None:
        with self._lock:
            if self.interactive:
                self.stream.write(ERASE + text)
                self._text = text
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def end(self) -> None:
        """Leave the last line on screen and move below it."""
        with self._lock:
            if self._text:
                self.stream.write("\n")
                self.stream.flush()
                self._text = ""

    @contextlib.contextmanager
    def suspended(self) -> Iterator[None]:
        """Erase the line while the block writes to the terminal, then draw it again below."""
        with self._lock:
            if not self._text:
                yield
                return
            self.stream.write(ERASE)
            self.stream.flush()
            try:
                yield
            finally:
                self.stream.write(self._text)
                self.stream.flush()

    @contextlib.contextmanager
    def logging_around(self) -> Iterator[ProgressLine]:
        """For the block, log records written to this terminal erase the line first and redraw it after."""
        if not self.interactive:
            yield self
            return
        swapped: list[tuple[logging.Logger, logging.Handler, _AroundLine]] = []
        loggers = [logging.getLogger()] + [
            logger for logger in list(logging.Logger.manager.loggerDict.values()) if isinstance(logger, logging.Logger)
        ]
        for logger in loggers:
            for index, handler in enumerate(list(logger.handlers)):
                if isinstance(handler, logging.StreamHandler) and _same_file(handler.stream, self.stream):
                    wrapper = _AroundLine(inner=handler, line=self)
                    logger.handlers[index] = wrapper
                    swapped.append((logger, handler, wrapper))
        try:
            yield self
        finally:
            for logger, handler, wrapper in swapped:
                logger.handlers = [handler if h is wrapper else h for h in logger.handlers]


class _AroundLine(logging.Handler):
    """Stands in for a handler on the line's terminal: the inner handler formats and writes as before."""

    def __init__(self, *, inner: logging.Handler, line: ProgressLine) -> None:
        super().__init__(level=inner.level)
        self.inner = inner
        self.line = line

    def handle(self, record: logging.LogRecord) -> bool:
        with self.line.suspended():
            return bool(self.inner.handle(record))

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() does the work
        self.inner.emit(record)
