"""A loomtui process whose background compacting save stops at one step, for the kill tests.

Run as ``python compact_driver.py SESSION STEP``: it opens SESSION as the app does
(``defer_compaction``), as a big session (every save "slow", any journal "big"), and loops:
generate with the scripted backend (:mod:`crash_driver`), label a node, start the background
save when it is due. The save stops for good at ``STEP`` (a name of
:data:`loomtui.core.compaction.on_step`; it prints ``AT STEP``) while the loop goes on
changing the tree. Each change is reported once the engine has applied it (``DONE`` with
the finished branches' bytes, ``LABEL`` with a node and its label): a SIGKILL at any moment
must lose none of them. ``SAVED`` is printed each time a background save ends.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from loomtui.backends.base import GenerationSettings
from loomtui.core import compaction
from loomtui.core.store import SessionStore
from loomtui.engine import Engine

try:
    from loomtests.crash_driver import ScriptedBackend
except ImportError:  # run as a script from tests/loomtests
    from crash_driver import ScriptedBackend  # type: ignore[no-redef]


def main(argv: list[str]) -> int:
    path, stop = argv[0], argv[1]
    store = SessionStore.open(path)
    store.full_save_budget_s = 0.0  # every save is slow: checkpoints, not full saves
    store.journal_compact_bytes = 1  # any journal is big: a compaction is always due
    store.defer_compaction = True  # as the app: the full save waits for compact_if_due
    engine = Engine.over(store, ScriptedBackend(delay=0.0))
    session = store.session
    if len(session.nodes) == 1:
        engine.add(session.root_id, 0, plain="Once upon a time \x1b[31m", origin="edit")
    stopped = threading.Event()

    def hold(name: str) -> None:
        if name == "trimmed":
            say("SAVED")
        if name == stop:
            say("AT " + name)
            stopped.set()
            while True:  # this save never goes on: the test kills the process
                time.sleep(1)

    compaction.on_step = hold
    say("READY")
    for r in range(10_000):
        start = session.leaves()[r % len(session.leaves())]
        settings = GenerationSettings(max_tokens=8, n=1 + r % 2, seed=r, temperature=1.0)
        result = engine.generate(start.id, None, settings)
        say("DONE " + json.dumps([session.branch_bytes(n.id).hex() for n in result.nodes]))
        node = result.nodes[0]
        engine.set_label(node.id, f"label {r} [b]")
        say("LABEL " + json.dumps([node.id, f"label {r} [b]"]))
        if not store.compacting:
            store.compact_if_due()
        time.sleep(0.01)  # the save's thread gets its share, as between a person's keys
    store.close()
    return 0


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
