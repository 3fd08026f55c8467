"""Searching the whole tree (core/search.py): every match on every branch, across node
boundaries, mapped back to the tree's own points; invalid and pathological patterns."""

from __future__ import annotations

import random
import re
import time

import pytest

from loomtui.core.search import SearchError, search, unit_starts
from loomtui.core.tokens import Token
from loomtui.core.tree import Session


def tok(text: str, data: bytes | None = None) -> Token:
    return Token(text, text.encode() if data is None else data, None, -0.5, (), 1.0)


def _branch_offset(s: Session, node_id: str, offset: int) -> int:
    """Characters before ``(node_id, offset)`` on its branch (plain-text trees)."""
    return sum(len(n.plain) for n in s.path(node_id)[:-1]) + offset


def _random_plain_tree(seed: int, n: int = 120) -> Session:
    rng = random.Random(seed)
    alphabet = "ab ab\nAB"
    s = Session.new("ab")
    ids = [s.current_id]
    for _ in range(n):
        parent = rng.choice(ids)
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        ids.append(s.add_child(parent, plain=text, origin="edit").id)
    return s


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("pattern", ["ab", "b a", "abab", "bA", "a\na"])
def test_every_match_of_every_branch_is_found_once_and_placed_exactly(seed, pattern):
    """Against a brute force over each leaf's whole branch text (case-insensitive): the same
    (start, end) pairs, matches across node boundaries included."""
    s = _random_plain_tree(seed)
    result = search(s, pattern)
    assert not result.truncated and not result.timed_out
    crossing = 0
    for leaf in s.leaves():
        branch = s.branch_text(leaf.id)
        on_branch = {n.id for n in s.path(leaf.id)}
        want = {
            (m.start(), m.end())
            for m in re.finditer(re.escape(pattern), branch, flags=re.IGNORECASE)
        }
        got = set()
        for m in result.matches:
            if m.node_id not in on_branch:
                continue
            start = _branch_offset(s, *m.start)
            last_node, _, last_end = m.spans[-1]
            assert last_node == m.node_id
            end = _branch_offset(s, last_node, last_end)
            assert branch[start:end].lower() == pattern.lower() == m.text.lower()
            got.add((start, end))
            crossing += len(m.spans) > 1
        assert got == want, (leaf.id, branch)
    # No match reported twice for one node.
    keys = [(m.node_id, m.start, m.spans) for m in result.matches]
    assert len(keys) == len(set(keys))


def test_a_match_across_a_plain_prompt_and_a_models_tokens_lands_on_its_tokens():
    s = Session.new("Once upon a")
    prompt = s.current_id
    gen = s.add_generation(prompt)
    s.append_tokens(gen.id, [tok(" time"), tok(" there"), tok(" was"), tok(" a"), tok(" Time")])
    result = search(s, "a time")
    assert [m.text for m in result.matches] == ["a time", "a Time"]
    first, second = result.matches
    # Starts in the prompt at character 10 ("a"), ends in the first token of the model node.
    assert first.start == (prompt, 10)
    assert first.spans == ((prompt, 10, 11), (gen.id, 0, 1))
    assert first.node_id == gen.id
    # Wholly inside the model node: tokens 3 (" a") and 4 (" Time").
    assert second.start == (gen.id, 3) and second.spans == ((gen.id, 3, 5),)
    assert second.before.endswith(" there was ") and second.after == ""
    assert [m.text for m in search(s, "a Time", case=True).matches] == ["a Time"]


def test_a_character_split_between_two_tokens_maps_to_the_token_it_completes():
    s = Session.new("x")
    gen = s.add_generation(s.current_id)
    e_acute = "é".encode()
    s.append_tokens(gen.id, [tok(" caf"), tok("", e_acute[:1]), tok("é", e_acute[1:]), tok("!")])
    assert unit_starts(s.node(gen.id)) == [0, 4, 4, 5]
    (m,) = search(s, "é!").matches
    assert m.spans == ((gen.id, 2, 4),)
    (m,) = search(s, "caf").matches
    assert m.spans == ((gen.id, 0, 1),)


def test_a_regex_matches_across_nodes_and_a_bad_one_is_one_line():
    s = Session.new("The cat")
    a = s.add_child(s.current_id, plain=" sat on", origin="edit")
    s.add_child(a.id, plain=" the mat", origin="edit")
    result = search(s, r"cat\s+sat\W+on the", is_regex=True)
    assert [m.text for m in result.matches] == ["cat sat on the"]
    assert len(result.matches[0].spans) == 3
    with pytest.raises(SearchError) as err:
        search(s, "(unclosed", is_regex=True)
    assert "invalid regular expression" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(SearchError):
        search(s, "")


def test_a_regex_that_runs_over_the_separator_is_searched_node_by_node():
    """``[^q]+`` would run from one node's subject into the next in the joined string: the
    nodes are searched alone, and each sibling's match stays on its own branch."""
    s = Session.new("ab")
    x = s.add_child(s.current_id, plain="cd", origin="edit")
    y = s.add_child(s.current_id, plain="ef", origin="edit")
    result = search(s, "[^q]+", is_regex=True)
    assert sorted((m.node_id, m.text) for m in result.matches) == sorted(
        [(s.current_id, "ab"), (x.id, "abcd"), (y.id, "abef")]
    )


def test_a_pathological_regex_stops_at_the_deadline_with_what_it_found():
    s = Session.new("a" * 30 + "!")  # (a|a)+b backtracks exponentially on this
    start = time.perf_counter()
    result = search(s, "(a|a)+b", is_regex=True, timeout_s=0.3)
    assert result.timed_out and time.perf_counter() - start < 3
    assert "too slow" in result.count_text


def test_the_limit_stops_the_search_and_says_so():
    s = Session.new("ab " * 50)
    result = search(s, "ab", limit=10)
    assert len(result.matches) == 10 and result.truncated and result.count_text == "10+"


def test_cached_texts_follow_tokens_that_grew():
    s = Session.new("x")
    gen = s.add_generation(s.current_id)
    s.append_tokens(gen.id, [tok(" one")])
    cache: dict = {}
    assert search(s, "two", cache=cache).matches == []
    s.append_tokens(gen.id, [tok(" two")])
    assert [m.node_id for m in search(s, "two", cache=cache).matches] == [gen.id]


def test_hidden_nodes_are_not_searched():
    s = Session.new("root text")
    kept = s.add_child(s.current_id, plain=" needle", origin="edit")
    gone = s.add_child(s.current_id, plain=" needle", origin="edit")
    if not hasattr(gone, "hidden"):
        pytest.skip("no soft-hide in this tree")
    gone.hidden = True
    s.add_child(gone.id, plain=" needle below", origin="edit")
    assert [m.node_id for m in search(s, "needle").matches] == [kept.id]


def test_the_search_measure_runs_on_a_tiny_tree():
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, str(repo / "benchmarks" / "run.py"), "--quick", "--json", "--only",
         "search_50k_ratio"],
        capture_output=True, text=True, timeout=300, cwd=repo, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)["search_50k_ratio"]
    assert "error" not in r, r.get("error")
    assert r["value"] > 0 and r["detail"]["matches"] > 0 and r["detail"]["across_nodes"] > 0
