from __future__ import annotations

import io
import logging
import os
import select

import pytest

from common.progress_line import ProgressLine
from common.testing import FakeTTY, terminal_lines

PROGRESS = "[   2/10s] rps    41.0  p95    12.0ms  failures     0  users    5  up    faults 0"


@pytest.fixture
def log():
    """A logger of this test alone, its records formatted as ``INFO name message``."""
    logger = logging.getLogger(f"progress-line-test-{os.getpid()}-{id(object())}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)


def handler_on(logger: logging.Logger, stream) -> logging.StreamHandler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)
    return handler


def assert_no_log_line_starts_mid_progress(lines: list[str]) -> None:
    for line in lines:
        if "INFO" in line:
            assert line.startswith("INFO "), f"a log record ran into the progress line: {line!r}"


def test_on_a_terminal_a_log_record_gets_a_line_of_its_own_and_the_progress_line_comes_back_below(log):
    tty = FakeTTY()
    handler_on(log, tty)
    line = ProgressLine(tty)
    with line.logging_around():
        line.show(PROGRESS.replace("2/", "1/"))
        log.info("run 8: applied latency fault f1 at 1.02s")
        line.show(PROGRESS)
        log.info("run 8: cleared latency fault f1")
    line.end()
    lines = terminal_lines(tty.getvalue())
    assert_no_log_line_starts_mid_progress(lines)
    assert lines == [
        f"INFO {log.name} run 8: applied latency fault f1 at 1.02s",
        f"INFO {log.name} run 8: cleared latency fault f1",
        PROGRESS,
        "",
    ]


def test_on_a_real_pseudo_terminal_log_lines_start_at_the_left_edge(log):
    master, slave = os.openpty()
    # Two stream objects on one terminal, as the command's stderr and logging's are.
    progress_stream = open(slave, "w", closefd=False)
    log_stream = open(os.dup(slave), "w")
    try:
        handler_on(log, log_stream)
        line = ProgressLine(progress_stream)
        assert line.interactive
        with line.logging_around():
            for second in range(1, 4):
                line.show(PROGRESS.replace("2/", f"{second}/"))
                log.info("second %d stored", second)
        line.end()
        progress_stream.flush()
        log_stream.flush()
        output = b""
        while select.select([master], [], [], 0.5)[0]:
            chunk = os.read(master, 65536)
            if not chunk:
                break
            output += chunk
    finally:
        progress_stream.close()
        log_stream.close()
        os.close(slave)
        os.close(master)
    lines = terminal_lines(output.decode())
    assert_no_log_line_starts_mid_progress(lines)
    assert [line for line in lines if line.startswith("INFO")] == [
        f"INFO {log.name} second {second} stored" for second in range(1, 4)]
    assert lines[-2] == PROGRESS.replace("2/", "3/")


def test_the_handlers_are_given_back_when_the_block_ends(log):
    tty = FakeTTY()
    handler = handler_on(log, tty)
    before = list(log.handlers)
    with ProgressLine(tty).logging_around():
        assert handler not in log.handlers
    assert log.handlers == before


def test_handlers_writing_elsewhere_are_left_alone(log):
    handler_on(log, io.StringIO())
    before = list(log.handlers)
    with ProgressLine(FakeTTY()).logging_around():
        assert log.handlers == before


def test_off_a_terminal_every_update_is_a_line_of_its_own_and_logging_is_untouched(log):
    stream = io.StringIO()
    handler_on(log, stream)
    line = ProgressLine(stream)
    before = list(log.handlers)
    with line.logging_around():
        assert log.handlers == before
        line.show("one")
        log.info("between")
        line.show("two")
    line.end()
    assert stream.getvalue() == f"one\nINFO {log.name} between\ntwo\n"
