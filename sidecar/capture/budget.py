"""The memory the capture copies of exchanges in flight may hold, shared by all of them.

Each captured exchange copies what it streams (a request body read through the tee, a streamed
response and the text of its assembly) until it is staged. One copy is bounded by
--max-capture-bytes; together they are bounded by --capture-inflight-bytes: a new exchange is
not captured while the budget is spent, and an exchange whose copy would pass it drops its copy.
Both are counted (`inflight_full`). Staged exchanges are the queue's to bound (--queue-max-bytes).
"""

from __future__ import annotations


class CopyBudget:
    """Bytes held by the capture copies of the exchanges in flight, within `max_bytes`."""

    __slots__ = ("held", "max_bytes")

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.held = 0

    def hold(self) -> CopyHold | None:
        """A share for a new exchange; None when the budget is spent (it is then not captured)."""
        if self.held >= self.max_bytes:
            return None
        return CopyHold(self)


class CopyHold:
    """One exchange's share of the budget: taken as its copies grow, given back at once when
    the exchange ends (`release`, however it ends)."""

    __slots__ = ("_budget", "held")

    def __init__(self, budget: CopyBudget) -> None:
        self._budget = budget
        self.held = 0

    def take(self, size: int) -> bool:
        """Account for `size` more bytes of copy; False (nothing taken) past the budget: the
        caller then drops its copy."""
        budget = self._budget
        if budget.held + size > budget.max_bytes:
            return False
        budget.held += size
        self.held += size
        return True

    def release(self) -> None:
        self._budget.held -= self.held
        self.held = 0
