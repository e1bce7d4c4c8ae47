"""``collection_paused``: no cyclic collection inside, the collector's state back after."""

from __future__ import annotations

import gc

import pytest

from sliceplane.machinery.gctuning import collection_paused


def test_no_collection_inside_and_enabled_again_after() -> None:
    assert gc.isenabled()
    before = gc.get_stats()[0]["collections"]
    with collection_paused():
        assert not gc.isenabled()
        junk = [[i] for i in range(5 * gc.get_threshold()[0])]  # several young collections' worth
        del junk
        assert gc.get_stats()[0]["collections"] == before
    assert gc.isenabled()


def test_enabled_again_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), collection_paused():
        raise RuntimeError("sync failed")
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled() -> None:
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
