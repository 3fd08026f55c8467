"""Big trees (issue 19): ``export --all`` writes every leaf's branch from shared prefixes, not
by walking from the root once per leaf; the bytes are exactly what they were. The timing
itself is a benchmark (``tree_50k_export_ratio``, ``tree_50k_action_ms``): the smoke test
below runs both on a small tree."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from loomtui.core.export import export
from loomtui.core.sessionfile import load_session
from loomtui.core.tokens import Token
from loomtui.core.tree import Session, TreeError

REPO = Path(__file__).resolve().parents[2]


def _tok(data: bytes) -> Token:
    return Token(data.decode("utf-8", "replace"), data, None, -0.5)


def _tree(seed: int = 3, n: int = 400) -> Session:
    """Plain and token nodes, a character split between two nodes, labels on some nodes,
    control characters and a lone surrogate in plain text."""
    rng = random.Random(seed)
    s = Session.new("Prompt \x1b[31m:")
    ids = [s.current_id]
    for i in range(n):
        parent = rng.choice(ids[-20:] if rng.random() < 0.6 else ids)
        kind = i % 4
        if kind == 0:
            node = s.add_child(parent, tokens=[_tok(b" \xe2\x82"), _tok(b"\xac")], origin="model")
        elif kind == 1:
            node = s.add_child(parent, tokens=[_tok(b" \xe2\x82")], origin="model")  # split
        elif kind == 2:
            node = s.add_child(parent, plain=f" w{i}\ud800", origin="edit")
        else:
            node = s.add_child(parent, plain=f" p{i}\n", origin="prompt")
        if rng.random() < 0.1:
            s.set_label(node.id, f"L{i} / é")
        ids.append(node.id)
    return s


def _per_leaf_reference(s: Session, under: str | None = None) -> bytes:
    """The export --all text format, built the slow obvious way: each leaf's path from the
    root, its labels and its segments' bytes (independent of export.py)."""
    leaves = [n for n in s.walk(under) if not n.children]
    out: list[bytes] = []
    for leaf in leaves:
        path = s.path(leaf.id)
        labels = " / ".join(n.label for n in path if n.label)
        head = f"--- node {leaf.id}" + (f": {labels}" if labels else "") + " ---\n"
        out.append(head.encode("utf-8", "surrogatepass"))
        for n in path:
            out.append(
                b"".join(t.bytes for t in n.tokens)
                if n.tokens is not None
                else n.plain.encode("utf-8", "surrogatepass")
            )
        out.append(b"\n")
    return b"".join(out)


def test_export_all_is_byte_for_byte_the_per_leaf_text():
    s = _tree()
    data = export(s, "text", None, True)
    assert data == _per_leaf_reference(s)
    assert b"\xe2\x82\xac" in data and b"\xed\xa0\x80" in data  # joined across nodes; surrogate
    under = s.root.children[0]
    sub = s.children(under)[0].id
    assert export(s, "text", sub, True) == _per_leaf_reference(s, sub)


def test_branches_bytes_equals_branch_bytes_for_any_nodes():
    s = _tree(seed=5, n=200)
    ids = list(s.nodes)
    random.Random(1).shuffle(ids)
    asked = ids[:50] + ids[:3]  # inner nodes, leaves, repeats, any order
    assert s.branches_bytes(asked) == [s.branch_bytes(nid) for nid in asked]
    assert s.branches_bytes([]) == []


def test_broken_links_still_fail_loudly():
    s = _tree(seed=2, n=30)
    leaf = max(s.leaves(), key=lambda n: s.depth(n.id))
    with pytest.raises(TreeError):
        s.branches_bytes([leaf.id, "no-such-node"])
    a, b = s.path(leaf.id)[1:3]
    a.parent = b.id  # a cycle in parent links
    with pytest.raises(TreeError):
        s.branches_bytes([leaf.id])


def test_export_all_does_not_walk_from_the_root_per_leaf(monkeypatch):
    """A 2,000-deep chain with a leaf hanging off every node: per-leaf walks would visit
    ~2,000,000 nodes; shared prefixes visit each node once."""
    s = Session.new("start")
    chain = s.current_id
    for i in range(2000):
        s.add_child(chain, plain=f" leaf{i}")
        chain = s.add_child(chain, plain=f" c{i}").id
    walks = []
    real_path = Session.path

    def counting_path(self, node_id):
        walks.append(node_id)
        return real_path(self, node_id)

    monkeypatch.setattr(Session, "path", counting_path)
    data = export(s, "text", None, True)
    assert data.count(b"--- node ") == 2001
    assert len(walks) <= 2  # not one walk to the root per leaf
    monkeypatch.setattr(Session, "path", real_path)
    assert data == _per_leaf_reference(s)


def test_a_loom_file_exports_the_same_after_loading(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import scale_measures
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    path = tmp_path / "loom.json"
    scale_measures.write_loom(path, 1500)
    s = load_session(path)
    assert len(s.nodes) == 1500
    assert export(s, "text", None, True) == _per_leaf_reference(s)
    # The plain-Python floor the benchmark compares with joins the same leaf texts.
    texts = [
        part.split(b" ---\n", 1)[1]
        for part in export(s, "text", None, True).split(b"--- node ")[1:]
    ]
    assert b"\n".join(t[:-1] for t in texts) == scale_measures._plain_leaves(path)


def test_scale_measures_run_on_tiny_inputs():
    names = ["tree_50k_export_ratio", "tree_50k_action_ms"]
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "run.py"),
            "--quick",
            "--json",
            "--only",
            *names,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert set(results) == set(names)
    for name in names:
        r = results[name]
        assert "error" not in r, r.get("error")
        assert isinstance(r["value"], (int, float)) and r["value"] > 0
        assert r["goal"] in ("<= 3", "<= 50") and r["met"] in (True, False)
        assert not r["baseline"].startswith("none")
    export_detail = results["tree_50k_export_ratio"]["detail"]
    assert export_detail["nodes"] == 2000 and export_detail["leaves"] > 500
    actions = results["tree_50k_action_ms"]["detail"]
    assert set(actions["median_ms"]) == {"cursor_down", "toggle_expand", "next_sibling", "parent"}
    assert "2000 nodes" in actions["border"]
