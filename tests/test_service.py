"""Service wiring that needs no Bot API: start-up objects frozen out of the collector."""

from __future__ import annotations

import gc

from jigaido.face.service import freeze_start_up_objects


def test_start_up_objects_are_out_of_the_collectors_reach() -> None:
    """What is alive when the bot starts serving (aiogram's types, here the test's own
    objects) leaves the generations a collection walks, so a full collection in a
    burst costs the bot's own objects only."""
    start_up_object = ["built at start-up"]  # a list is always tracked
    assert gc.is_tracked(start_up_object)
    gc.unfreeze()
    try:
        freeze_start_up_objects()
        assert gc.get_freeze_count() > 0
        assert all(o is not start_up_object for o in gc.get_objects())
        later = ["built while serving"]
        assert any(o is later for o in gc.get_objects()), "new objects are still collected"
    finally:
        gc.unfreeze()
