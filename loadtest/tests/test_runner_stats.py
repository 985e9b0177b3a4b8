from __future__ import annotations

from loadtest.runner_stats import SecondBook, failure_kind_of, second_record


def test_a_second_record_adds_up_and_uses_raw_latencies():
    book = SecondBook()
    for latency in (10, 20, 30, 40, 1000):
        book.record(at=100.2, latency_ms=latency, failure_kind=None, instance="a")
    book.record(100.9, 5, "503", "b")
    book.record(101.1, 7, None, "a")
    record = second_record(second=0, stats=book.pop(epoch_second=100), active_users=4)
    assert record["requests"] == 6 == record["successes"] + record["failures"]
    assert record["failures_by_kind"] == {"503": 1}
    assert record["success_latency_sum_ms"] == 1100
    assert record["latency_max_ms"] == 1000
    assert abs(record["latency_p50_ms"] - 20) <= 0.2
    assert record["latency_p99_ms"] == 1000
    assert record["instances"] == ["a", "b"]
    assert sum(record["latency_histogram"].values()) == 6
    assert book.later_than(epoch_second=100) == [101]


def test_an_empty_second_still_produces_a_record():
    record = second_record(second=3, stats=SecondBook().pop(epoch_second=5), active_users=2)
    assert record["requests"] == 0
    assert record["latency_p95_ms"] is None


def test_workers_books_merge_on_the_master():
    worker_a, worker_b, master = SecondBook(), SecondBook(), SecondBook()
    worker_a.record(50.5, 10, None, "x")
    worker_b.record(50.7, 30, "timeout", None)
    master.merge_wire(worker_a.take_wire())
    master.merge_wire(worker_b.take_wire())
    assert worker_a.seconds == {}
    record = second_record(second=0, stats=master.pop(epoch_second=50), active_users=2)
    assert (record["requests"], record["failures_by_kind"], record["instances"]) == (2, {"timeout": 1}, ["x"])


def test_failures_are_classified_by_status_then_error_kind():
    assert failure_kind_of(status_code=502, exception=Exception("bad")) == "502"
    assert failure_kind_of(status_code=0, exception=TimeoutError("timed out")) == "timeout"
    assert failure_kind_of(status_code=0, exception=ConnectionRefusedError()) == "connection"
    assert failure_kind_of(status_code=0, exception=RuntimeError("odd")) == "error"
