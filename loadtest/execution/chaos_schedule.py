"""A run's chaos plan in motion: apply each fault at its offset, clear it at its end, record both.

Times are seconds since the runner's ``t0``. What happened to every event is
written on its ``ChaosEvent`` row (applied/cleared second, fault id, error), so
the run's record shows the faults *as applied*, not only as planned.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from loadtest import metrics
from loadtest.fault_control import FaultControl, FaultControlError
from loadtest.models import ChaosEvent

logger = logging.getLogger(__name__)


class ChaosAborted(Exception):
    """A fault could not be applied or cleared: the run cannot go on as planned."""


class ChaosSchedule:
    def __init__(self, *, run_id: int, events: list[ChaosEvent], faults: FaultControl) -> None:
        self.run_id = run_id
        self.events = sorted(events, key=lambda event: (event.at_s, event.index))
        self.faults = faults
        self.active: dict[int, ChaosEvent] = {}
        self.t0: float | None = None

    def leftovers_clear(self) -> int:
        """Clear every fault already on the anvil before this run breaks it; how many there were.

        A run owns the faults of its anvil: one left by a run whose worker died
        must not count against the next participant.
        """
        cleared = 0
        for fault in self.faults.active():
            fault_id = str(fault.get("id", ""))
            if fault_id and self.faults.clear(fault_id=fault_id):
                cleared += 1
        if cleared:
            logger.warning("run %s: cleared %d fault(s) left on the anvil before it started", self.run_id, cleared)
        return cleared

    def tick(self, *, elapsed_s: float) -> None:
        for event in self.events:
            if event.applied_at is None and not event.error and elapsed_s >= event.at_s:
                self._apply(event, elapsed_s=elapsed_s)
        for index, event in list(self.active.items()):
            if elapsed_s >= event.at_s + event.duration_s:
                try:
                    self._clear(event, elapsed_s=elapsed_s)
                except FaultControlError as exc:
                    raise ChaosAborted(f"chaos event #{event.index} ({event.kind}) could not be cleared: {exc}") from exc
                del self.active[index]
                metrics.FAULTS.set(len(self.active))

    def _apply(self, event: ChaosEvent, *, elapsed_s: float) -> None:
        try:
            fault = self.faults.add(spec=event.spec)
        except (FaultControlError, ValueError) as exc:
            event.error = f"could not be applied: {exc}"
            event.save(update_fields=["error"])
            raise ChaosAborted(f"chaos event #{event.index} ({event.kind}) could not be applied: {exc}") from exc
        event.fault_id = str(fault.get("id", ""))[:64]
        event.applied_at = datetime.now(tz=UTC)
        event.applied_second = round(elapsed_s, 3)
        event.save(update_fields=["fault_id", "applied_at", "applied_second"])
        self.active[event.index] = event
        metrics.FAULTS.set(len(self.active))
        logger.info("run %s: applied %s fault %s at %.2fs", self.run_id, event.kind, event.fault_id,
                    event.applied_second)

    def _clear(self, event: ChaosEvent, *, elapsed_s: float | None) -> None:
        self.faults.clear(fault_id=event.fault_id)
        event.cleared_at = datetime.now(tz=UTC)
        event.cleared_second = round(elapsed_s, 3) if elapsed_s is not None else None
        event.save(update_fields=["cleared_at", "cleared_second"])

    def clear_all(self, *, elapsed_s: float | None) -> str:
        """Clear every fault this run set and has not cleared; the reason if any could not be."""
        problems = []
        for index, event in list(self.active.items()):
            try:
                self._clear(event, elapsed_s=elapsed_s)
            except (FaultControlError, OSError) as exc:
                # The fault's own expiry (its planned end + a margin) still ends it.
                event.error = f"{event.error}\nnot cleared at the end: {exc}".strip()
                event.save(update_fields=["error"])
                problems.append(f"fault {event.fault_id} not cleared: {exc}")
            del self.active[index]
        metrics.FAULTS.set(0)
        return "; ".join(problems)
