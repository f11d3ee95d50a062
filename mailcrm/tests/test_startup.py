"""A web process freezes what its imports left alive and collects after each response
(mailcrm.startup), in a process of its own so the test run's collector is untouched."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc, json, sys, weakref
import mailcrm.wsgi
from django.core.signals import request_finished
views = [name for name in sys.modules if name.endswith(("views", ".api"))]
gc.collect()
found = {"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects()),
         "views": len(views), "thresholds": gc.get_threshold()}

class Node:
    pass

def cycle():
    node = Node()
    node.me = node
    return node

gc.disable()  # only the response's end may collect the cycles below
# A cycle alive during a middle-generation collection (as in a request), then dropped.
node = cycle()
alive = weakref.ref(node)
gc.collect(1)
del node
found["old_cycle_kept_before_the_response_ends"] = alive() is not None
request_finished.send(sender=None)
found["old_cycle_freed_after"] = alive() is None
# No middle-generation collection since: nothing can be old garbage, no collection.
node = cycle()
young = weakref.ref(node)
del node
request_finished.send(sender=None)
found["young_cycle_left_to_the_young_collections"] = young() is not None
print(json.dumps(found))
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
    # a request's cycles are collected once its response has gone, not in a later request
    assert found["old_cycle_kept_before_the_response_ends"] and found["old_cycle_freed_after"]
    assert found["young_cycle_left_to_the_young_collections"]  # a tracking hit pays nothing
