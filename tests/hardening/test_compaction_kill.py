"""SIGKILL a loomtui process while its compacting full save runs on a thread of its own, at
every step of that save (issue 19: autosave never blocks typing, and loses nothing): before
the file is written, with the temp file written, with the save mark in the journal, after
the rename, while the journal is being trimmed, after it. The process goes on changing the
tree the whole time; the session must reopen with every change it reported, never an older
state, and never a corrupt file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from loomtests import compact_driver

from loomtui.core.sessionfile import load_session
from loomtui.core.store import SessionStore, journal_path

DRIVER = Path(compact_driver.__file__)
STEPS = ("snapshot", "written", "marked", "renamed", "trim-written", "trimmed")


def _run_until(session: Path, stop: str, after: int) -> list[str]:
    """Run the driver; SIGKILL it once its save stopped at ``stop`` and ``after`` more
    changes were reported (or 3 s later: at "trim-written" the journal's lock is held)."""
    proc = subprocess.Popen(
        [sys.executable, str(DRIVER), str(session), stop],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    lines: list[str] = []
    at = threading.Event()
    enough = threading.Event()

    def read() -> None:
        seen = 0
        for raw in proc.stdout:  # type: ignore[union-attr]
            line = raw.decode().rstrip("\n")
            lines.append(line)
            if line.startswith("AT "):
                at.set()
            elif at.is_set() and line.startswith("LABEL "):
                seen += 1
                if seen >= after:
                    enough.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert at.wait(60), "the background save never reached " + stop
        enough.wait(3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        reader.join(timeout=30)
    err = proc.stderr.read().decode(errors="replace")  # type: ignore[union-attr]
    assert proc.returncode == -signal.SIGKILL, err[-2000:]
    assert not err.strip(), err[-2000:]
    return lines


def _check(session: Path, lines: list[str], expected: set[str], labels: dict[str, str]) -> None:
    for line in lines:
        if line.startswith("DONE "):
            expected.update(json.loads(line[5:]))
        elif line.startswith("LABEL "):
            nid, label = json.loads(line[6:])
            labels[nid] = label
    before = session.read_bytes()
    load_session(session)  # whatever the kill hit, the file itself is whole
    with SessionStore.open(session, readonly=True) as ro:
        assert session.read_bytes() == before  # a reader writes nothing
        have = {ro.session.branch_bytes(nid).hex() for nid in ro.session.nodes}
        assert not expected - have, f"{len(expected - have)} reported branches are lost"
        nodes = ro.session.nodes
        assert {nid: nodes[nid].label for nid in labels} == labels  # the latest of each


@pytest.mark.parametrize("stop", STEPS)
def test_a_kill_at_each_step_of_the_background_save_loses_no_change(tmp_path, stop):
    session = tmp_path / "big.json"
    expected: set[str] = set()
    labels: dict[str, str] = {}
    for _ in range(2):  # the second run starts from what the first kill left
        lines = _run_until(session, stop, after=3)
        assert f"AT {stop}" in lines
        after_stop = lines[lines.index(f"AT {stop}") :]
        if stop != "trim-written":  # there the journal's lock is held: writes wait
            assert any(x.startswith("DONE ") for x in after_stop), "no change during the save"
        if stop == "trimmed":
            assert "SAVED" in lines
        _check(session, lines, expected, labels)
    # A writable open folds it all in, leaves no temp file, and a clean close no journal.
    with SessionStore.open(session) as rw:
        have = {rw.session.branch_bytes(nid).hex() for nid in rw.session.nodes}
        assert not expected - have
    assert not journal_path(session).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".big.json.history", "big.json"]
    final = load_session(session)
    assert {final.branch_bytes(nid).hex() for nid in final.nodes} >= expected
    assert {nid: final.node(nid).label for nid in labels} == labels
