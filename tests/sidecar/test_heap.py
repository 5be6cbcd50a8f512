"""The serving process moves what start-up built out of the collector's reach."""

from __future__ import annotations

import gc

from sidecar.app import settle_heap


def test_settle_heap_freezes_what_start_up_built() -> None:
    gc.unfreeze()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # the test process goes on collecting as before
