"""SIGKILL a generating loomtui process at random moments; the session must always reopen
with every finished branch in it, byte for byte."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from loomtests import crash_driver

from loomtui.core.store import SessionStore, journal_path, lock_path

DRIVER = Path(crash_driver.__file__)
KILLS = 24


def _all_branches(store: SessionStore) -> set[str]:
    s = store.session
    return {s.branch_bytes(nid).hex() for nid in s.nodes}


def _check_tokens_valid(store: SessionStore, driver) -> None:
    """Every token (finished or cut short) is one the backend really sent, top-k intact."""
    pieces = set(driver.HOSTILE)
    for node in store.session.nodes.values():
        if node.meta.get("scored"):
            assert node.model == "scripted"  # scored by the driver itself, one token per byte
            continue
        picked = "picked_rank" in (node.settings or {})
        for i, tok in enumerate(node.tokens or ()):
            if picked and i == 0 and tok.bytes == b"[/]\x1b":
                continue  # an alternative picked from the top-k
            head, _, tail = tok.bytes.rpartition(b"<")
            assert head in pieces and tail.endswith(b">"), tok.bytes
            assert len(tok.top) == 2 and tok.top[1].bytes == b"[/]\x1b"
            assert tok.entropy == pytest.approx(1.25)


def _run_and_kill(
    session: Path, seed: int, during_start: bool, delay: float, extra: tuple[str, ...] = ()
) -> list[str]:
    """Start a driver; SIGKILL it ``delay`` s after start (``during_start``: while it opens
    and replays the last journal) or ``delay`` s after it is ready and generating."""
    proc = subprocess.Popen(
        [sys.executable, str(DRIVER), str(session), "--seed", str(seed), "--delay", "0.003"]
        + list(extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for raw in proc.stdout:  # type: ignore[union-attr]
            lines.append(raw.decode())
            ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not during_start:
        assert ready.wait(60), "the driver never started"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    reader.join(timeout=30)
    err = proc.stderr.read().decode(errors="replace")  # type: ignore[union-attr]
    assert proc.returncode == -signal.SIGKILL, err[-2000:]
    return [line.rstrip("\n") for line in lines]


def test_sigkill_at_random_moments_loses_no_finished_branch(tmp_path, driver):
    session = tmp_path / "killed.json"
    rng = random.Random(1234)
    expected: set[str] = set()
    gone: set[str] = set()
    marked: set[str] = set()
    labels: dict[str, str] = {}
    scored: dict[str, str] = {}
    finished_runs = 0
    replays = 0
    partial_checked = 0
    for i in range(KILLS):
        # Some kills land while the process starts and replays the previous journal.
        during_start = i % 4 == 3
        kill_after = rng.uniform(0.0, 0.4) if during_start else rng.uniform(0.0, 0.6)
        lines = _run_and_kill(session, i, during_start, kill_after)
        in_flight: dict[str, int] = {}  # tokens journaled since the last finish
        for line in lines:
            if line.startswith("T "):
                _, nid, count = line.split()
                in_flight[nid] = int(count)
            if line.startswith("DONE "):
                in_flight.clear()
                expected.update(json.loads(line[5:]))
                finished_runs += 1
            elif line.startswith("GONE "):
                gone.add(json.loads(line[5:]))
            elif line.startswith("MARK "):
                marked.add(line[5:])
            elif line.startswith("LABEL "):
                nid, label = json.loads(line[6:])
                labels[nid] = label
            elif line.startswith("SCORED "):
                nid, branch = json.loads(line[7:])
                scored[nid] = branch
        if not session.exists():
            assert not expected, "branches were reported finished but no file exists"
            continue
        # A second process (read-only) sees everything: file + journal, writing nothing.
        before = session.read_bytes()
        ro = SessionStore.open(session, readonly=True)
        assert session.read_bytes() == before
        replays += ro.replayed > 0
        have = _all_branches(ro)
        missing = (expected - gone) - have
        assert not missing, f"kill {i} after {kill_after:.2f}s lost {len(missing)} branches"
        _check_tokens_valid(ro, driver)
        # Bookmarks, labels and applied scores made right before the kill are kept too.
        nodes = ro.session.nodes
        assert all(nodes[nid].bookmark for nid in marked), f"kill {i} lost a bookmark"
        assert all(nodes[nid].label == lab for nid, lab in labels.items()), f"kill {i} lost a label"
        for nid, branch in scored.items():
            assert nodes[nid].tokens and ro.session.branch_bytes(nid).hex() == branch
        # The generation cut short keeps every token the store had been told about.
        for nid, count in in_flight.items():
            assert len(ro.session.node(nid).tokens) >= count, f"kill {i} lost tokens"
        partial_checked += bool(in_flight)
        ro.close()
        if i % 6 == 5:
            # A writable open takes over the dead process's lock, folds the journal in.
            assert lock_path(session).exists()
            with SessionStore.open(session) as rw:
                assert not (expected - gone) - _all_branches(rw)
            assert not lock_path(session).exists()
            assert not journal_path(session).exists()
    assert finished_runs > KILLS // 2, "the kills came too early to test anything"
    assert marked and labels and scored and gone, "some kind of change never ran before a kill"
    assert replays > 0, "no kill left a journal to replay"
    assert partial_checked > KILLS // 3, "too few kills landed mid-generation"
    # The last state opens cleanly in a writable store and saves to a loadable file.
    with SessionStore.open(session) as rw:
        assert not (expected - gone) - _all_branches(rw)
    from loomtui.core.sessionfile import load_session

    final = load_session(session)
    assert {final.branch_bytes(n).hex() for n in final.nodes} >= expected - gone


DISK_FULL_KILLS = 8


def test_a_full_disk_then_room_again_then_sigkill_loses_nothing_finished(tmp_path, driver):
    """The disk fills while tokens stream (journal writes and saves refused, the first one
    half written), then has room again; SIGKILL comes after, or while it is still full.
    Everything the driver reported while the store said all was written (and the work
    done during the full spell, once the store says it caught up) reopens byte for byte."""
    session = tmp_path / "full.json"
    rng = random.Random(20)
    expected: set[str] = set()
    gone: set[str] = set()
    marked: set[str] = set()
    problems = solved = killed_while_full = 0
    for i in range(DISK_FULL_KILLS):
        start, length = rng.uniform(0.02, 0.2), rng.uniform(0.1, 0.35)
        # Most kills come after the room is back; every fourth while the disk is full.
        kill_after = start + (length * 0.5 if i % 4 == 3 else length + rng.uniform(0.05, 0.4))
        lines = _run_and_kill(
            session, 100 + i, False, kill_after, ("--disk-full", f"{start},{length}")
        )
        in_flight: dict[str, int] = {}
        for line in lines:
            if line.startswith("PROBLEM "):
                problems += 1
                assert "No space left on device" in line, line
            elif line == "SOLVED":
                solved += 1
            elif line.startswith("T "):
                _, nid, count = line.split()
                in_flight[nid] = int(count)
            elif line.startswith("DONE "):
                in_flight.clear()
                expected.update(json.loads(line[5:]))
            elif line.startswith("GONE "):
                gone.add(json.loads(line[5:]))
            elif line.startswith("MARK "):
                marked.add(line[5:])
        still_full = [x for x in lines if x.startswith("PROBLEM ") or x == "SOLVED"][-1:]
        killed_while_full += bool(still_full) and still_full[0] != "SOLVED"
        assert session.exists()
        with SessionStore.open(session, readonly=True) as ro:
            have = _all_branches(ro)
            missing = (expected - gone) - have
            assert not missing, f"kill {i} lost {len(missing)} finished branches"
            _check_tokens_valid(ro, driver)
            assert all(ro.session.nodes[nid].bookmark for nid in marked)
            for nid, count in in_flight.items():
                assert len(ro.session.node(nid).tokens) >= count, f"kill {i} lost tokens"
        # Each line of the journal is whole: nothing was appended onto a half record.
        jpath = journal_path(session)
        if jpath.exists():
            body = jpath.read_bytes().split(b"\n")
            for raw in body[:-1]:
                assert isinstance(json.loads(raw), dict)
        if i % 3 == 2:
            # A writable open folds the journal in and cleans what a kill mid-save left.
            with SessionStore.open(session) as rw:
                assert not (expected - gone) - _all_branches(rw)
            assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert problems >= DISK_FULL_KILLS // 2, "the disk was rarely full while the driver wrote"
    assert solved > 0, "the store never said that it caught up"
    assert killed_while_full > 0, "no kill came while the disk was full"
    assert len(expected) > DISK_FULL_KILLS, "too little finished work to test anything"
    with SessionStore.open(session) as rw:
        assert not (expected - gone) - _all_branches(rw)
    assert not lock_path(session).exists() and not journal_path(session).exists()
