"""A web process freezes what its imports left alive (mailcrm.startup), in a process of its own
so the test run's collector is untouched."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc, json, sys
import mailcrm.wsgi
views = [name for name in sys.modules if name.endswith(("views", ".api"))]
gc.collect()
print(json.dumps({"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects()),
                  "views": len(views), "thresholds": gc.get_threshold()}))
"""


def test_loading_the_wsgi_application_imports_the_views_and_freezes_them():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mailcrm.settings"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["views"] > 5  # the URLconf was walked: every app's views are imported
    assert found["frozen"] > 50_000  # the imports' objects, out of the collector's walks
    assert found["tracked"] < found["frozen"] / 10  # what a full collection still walks
    assert found["thresholds"] == [700, 10, 100]  # full collections ten times rarer
