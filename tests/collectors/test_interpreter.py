"""The agent's process freezes its start-up objects and collects young objects less often."""

from __future__ import annotations

import subprocess
import sys


def test_tune_collector_freezes_and_raises_the_thresholds() -> None:
    code = ("import gc; from collectors.interpreter import THRESHOLDS, tune_collector; "
            "tune_collector(); assert gc.get_threshold() == THRESHOLDS, gc.get_threshold(); "
            "assert gc.get_freeze_count() > 1000, gc.get_freeze_count(); print('ok')")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


def test_a_full_collection_comes_now_and_then() -> None:
    from collectors.interpreter import collect_now_and_then

    assert collect_now_and_then(every_s=0)  # due: runs
    assert not collect_now_and_then(every_s=3600)  # just ran: not due
