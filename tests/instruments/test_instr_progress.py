"""Progress and cancel in the instruments' long runs: "n of N" as work completes, a set
event stops the run between steps with Cancelled, and the numbers are the same with or
without a progress callback (the probe's batches are the local backend's own)."""

from __future__ import annotations

import threading

import pytest

from loomtui.backends.base import Context, GenerationSettings
from loomtui.core.tree import Session
from loomtui.engine import Engine
from loomtui.instruments import compare, multiverse, probe, replay, sweep
from loomtui.instruments.progress import Cancelled


def _context(fake) -> Context:
    text = "I pick a number:"
    return Context(text=text, token_ids=fake.tokenize(text))


@pytest.mark.parametrize("full", [True, False])
def test_probe_reports_progress_and_keeps_its_numbers(make_fake, full):
    fake = make_fake(full=full)
    answers = probe.range_candidates(1, 40)
    seen: list[tuple[int, int]] = []
    plain = probe.probe(fake, _context(fake), answers, probe.RULE_DIGIT)
    told = probe.probe(
        fake, _context(fake), answers, probe.RULE_DIGIT, progress=lambda d, n: seen.append((d, n))
    )
    assert [c.logprob for c in told.candidates] == [c.logprob for c in plain.candidates]
    assert told.next_entropy == plain.next_entropy
    assert seen[-1] == (40, 40) and all(n == 40 for _, n in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    if full:
        assert [d for d, _ in seen] == [16, 32, 40]  # one step per batch of 16


@pytest.mark.parametrize("full", [True, False])
def test_probe_stops_when_cancelled(make_fake, full):
    fake = make_fake(full=full)
    cancel = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done >= 16:
            cancel.set()

    with pytest.raises(Cancelled):
        probe.probe(
            fake,
            _context(fake),
            probe.range_candidates(1, 100),
            probe.RULE_DIGIT,
            progress=progress,
            cancel=cancel,
        )
    assert max(seen) < 100


def test_multiverse_reports_levels_and_stops_between_them(fake):
    seen: list[tuple[int, int]] = []
    mv = multiverse.expand(fake, _context(fake), 3, 3, progress=lambda d, n: seen.append((d, n)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    again = multiverse.expand(fake, _context(fake), 3, 3)
    assert [b.path_logprob for b in mv.walk()] == [b.path_logprob for b in again.walk()]
    cancel = threading.Event()
    calls = fake.calls
    with pytest.raises(Cancelled):
        multiverse.expand(
            fake, _context(fake), 3, 3, progress=lambda d, n: cancel.set(), cancel=cancel
        )
    assert fake.calls - calls == 1  # the first level only


def _swept_session(fake):
    s = Session.new("The cat")
    eng = Engine(s, fake)
    gen = eng.generate(s.current_id, None, GenerationSettings(max_tokens=6, temperature=0))
    return s, eng, gen.nodes[0]


def test_sweep_reports_each_variant(fake):
    s, eng, node = _swept_session(fake)
    seen: list[tuple[int, int]] = []
    res = sweep.sweep(
        eng, node.id, 2, top_k=3, max_tokens=8, progress=lambda d, n: seen.append((d, n))
    )
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)] and len(res.variants) == 4


@pytest.mark.parametrize("stop_after", [0, 1, 3])
def test_a_cancelled_sweep_leaves_the_tree_as_it_was(fake, stop_after):
    s, eng, node = _swept_session(fake)
    branches = sorted(s.branch_text(n.id) for n in s.leaves())
    current_text = s.branch_text(s.current_id)
    cancel = threading.Event()
    if stop_after == 0:
        cancel.set()

    def progress(done: int, total: int) -> None:
        if done >= stop_after:
            cancel.set()

    with pytest.raises(Cancelled):
        sweep.sweep(eng, node.id, 2, top_k=3, max_tokens=8, progress=progress, cancel=cancel)
    assert sorted(s.branch_text(n.id) for n in s.leaves()) == branches
    assert s.branch_text(s.descend(s.current_id).id) == current_text


def test_a_sweep_cancelled_mid_continuation_keeps_nothing(fake):
    """The cancel arrives while a variant is being generated: that half-made continuation
    goes too, with the variants before it."""
    s, eng, node = _swept_session(fake)
    branches = sorted(s.branch_text(n.id) for n in s.leaves())
    cancel = threading.Event()
    tokens = 0

    def on_token(_node, _tok) -> None:
        nonlocal tokens
        tokens += 1
        if tokens == 11:  # the second variant, three tokens in
            cancel.set()

    eng.on_token = on_token
    real = fake.generate

    def generate(context, settings, cancel_event=None):
        for ev in real(context, settings, cancel_event):
            if cancel_event is not None and cancel_event.is_set():
                return
            yield ev

    fake.generate = generate
    with pytest.raises(Cancelled):
        sweep.sweep(eng, node.id, 2, top_k=3, max_tokens=8, cancel=cancel)
    assert sorted(s.branch_text(n.id) for n in s.leaves()) == branches
    assert not any(n.finish_reason == "cancelled" for n in s.nodes.values())


# -- model diff and replay: passes and generation points, stopped between them ----------------


@pytest.mark.parametrize("full", [True, False])
def test_compare_reports_its_passes_and_keeps_its_numbers(make_fake, full):
    a, b = make_fake("a", seed=1, full=full), make_fake("b", seed=2, full=full)
    text = "The cat sat on the mat."
    seen: list[tuple[int, int]] = []
    told = compare.compare(a, b, text, progress=lambda d, n: seen.append((d, n)))
    plain = compare.compare(a, b, text)
    # Two scoring passes, and with full distributions on both sides two KL passes.
    assert seen == ([(1, 4), (2, 4), (3, 4), (4, 4)] if full else [(1, 2), (2, 2)])
    assert told.to_json() == plain.to_json()


@pytest.mark.parametrize("stop_after", [0, 1, 2, 3])
def test_compare_stops_between_passes(make_fake, stop_after):
    a, b = make_fake("a", seed=1), make_fake("b", seed=2)
    cancel = threading.Event()
    if stop_after == 0:
        cancel.set()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done >= stop_after:
            cancel.set()

    with pytest.raises(Cancelled):
        compare.compare(a, b, "The cat sat on the mat.", progress=progress, cancel=cancel)
    assert seen == list(range(1, stop_after + 1))  # no pass after the cancel


def _replayable(make_fake):
    a = make_fake("a", seed=1)
    s = Session.new("The cat")
    eng = Engine(s, a)
    r1 = eng.generate(s.current_id, None, GenerationSettings(max_tokens=4, n=2, seed=3))
    eng.generate(r1.nodes[0].id, None, GenerationSettings(max_tokens=3, temperature=0))
    eng.generate(r1.nodes[1].id, None, GenerationSettings(max_tokens=3, temperature=0))
    return s


def test_replay_reports_each_generation_point(make_fake):
    s = _replayable(make_fake)
    seen: list[tuple[int, int]] = []
    out = replay.replay(s, make_fake("b", seed=2), progress=lambda d, n: seen.append((d, n)))
    assert out.points == 3 and seen == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize("in_place", [False, True])
def test_a_cancelled_replay_leaves_the_session_as_it_was(make_fake, in_place):
    s = _replayable(make_fake)
    before = {nid: s.branch_text(nid) for nid in s.nodes}
    current = s.current_id
    cancel = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done == 1:
            cancel.set()

    with pytest.raises(Cancelled):
        replay.replay(s, make_fake("b", seed=2), progress, in_place=in_place, cancel=cancel)
    assert seen == [1]  # the second point never ran
    assert {nid: s.branch_text(nid) for nid in s.nodes} == before
    assert s.current_id == current and "replayed_with" not in s.meta


def test_a_replay_cancelled_mid_generation_stops_it(make_fake):
    """The cancel arrives while a point is being generated: the backend is told (it stops
    at once) and the half-made node goes with the others."""
    s = _replayable(make_fake)
    before = set(s.nodes)
    b = make_fake("b", seed=2)
    cancel = threading.Event()
    real = b.generate
    tokens = 0

    def generate(context, settings, cancel_event=None):
        nonlocal tokens
        for ev in real(context, settings, cancel_event):
            if cancel_event is not None and cancel_event.is_set():
                return
            tokens += 1
            if tokens == 2:
                cancel.set()
            yield ev

    b.generate = generate
    with pytest.raises(Cancelled):
        replay.replay(s, b, in_place=True, cancel=cancel)
    assert tokens == 2 and set(s.nodes) == before
