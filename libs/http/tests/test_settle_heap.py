"""A serving process freezes its start-up heap and collects its young generation less often."""

import subprocess
import sys

from agentbus.http import service


def test_settle_heap_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    # In a child process: freezing the test runner's own heap would outlive this test.
    script = (
        "import gc; from agentbus.http import settle_heap; settle_heap(); "
        "print(gc.get_freeze_count(), *gc.get_threshold())"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    frozen, young, middle, old = map(int, out)
    assert frozen > 10_000  # the imported modules, FastAPI, pydantic, SQLAlchemy...
    assert young == service.YOUNG_GC_THRESHOLD > 700
    assert (middle, old) == (10, 10)  # CPython's defaults for the older generations stay
