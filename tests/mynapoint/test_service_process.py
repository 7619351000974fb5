"""The service process's garbage collector settings, as uvicorn's import of the entry point leaves them."""

import subprocess
import sys

from services.mynapoint.main import YOUNG_COLLECTION_THRESHOLD

PROBE = "import gc, services.mynapoint.main; print(gc.get_freeze_count(), gc.get_threshold()[0])"


def test_importing_the_entry_point_freezes_what_the_imports_built_and_raises_the_young_threshold():
    # A fresh interpreter, as a uvicorn process or worker is: this test process has imported the module already.
    answer = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    frozen, young = map(int, answer.stdout.split())
    assert frozen > 100_000  # the framework, the models and the routes
    assert young == YOUNG_COLLECTION_THRESHOLD
