"""The serving process moves what start-up built out of the collector's reach."""

from __future__ import annotations

import gc

from sidecar.app import GC_YOUNG_THRESHOLD, settle_heap


def test_settle_heap_freezes_what_start_up_built_and_collects_young_objects_less_often() -> None:
    gc.unfreeze()
    thresholds = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *thresholds[1:])
    finally:
        gc.unfreeze()  # the test process goes on collecting as before
        gc.set_threshold(*thresholds)
