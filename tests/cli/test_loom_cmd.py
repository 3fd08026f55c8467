"""``loomtui loom`` through the real CLI dispatcher, on the tiny random Llama (the local
backend's batched path) and the fake API backend: the JSON's shape, the session written
with -o holding the same tree, growing from a session's node, and refusals."""

from __future__ import annotations

import json

import pytest

from loomtui.backends.base import Context
from loomtui.cli import main
from loomtui.cli.jsonout import token_json
from loomtui.core.sessionfile import load_session
from loomtui.core.tokens import Token, decode

TOKEN_KEYS = set(token_json(Token("a", b"a")))


@pytest.fixture
def use(monkeypatch):
    """Make the verb use ``backend`` whatever --model says."""

    def set_backend(backend):
        monkeypatch.setattr("loomtui.cli.loom_cmd.backend_from_args", lambda args: backend)
        return backend

    return set_backend


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def _tree(session, under):
    """``{id: (parent or None, text, reason, finish)}`` of the nodes grown under ``under``."""
    out = {}
    stack = list(session.node(under).children)
    while stack:
        nid = stack.pop()
        node = session.node(nid)
        parent = None if node.parent == under else node.parent
        out[nid] = (parent, node.text, node.meta["adaptive"]["reason"], node.finish_reason)
        stack.extend(node.children)
    return out


ARGS = ["--branch-entropy", "3.3", "--top", "3", "--max-depth", "2", "--max-tokens", "5"]


def test_json_is_the_tree_and_the_session_holds_the_same(use, tiny_backend, capsys, tmp_path):
    use(tiny_backend)
    out_path = tmp_path / "grown.json"
    argv = ["loom", "--prompt", "The quick brown", *ARGS, "-o", str(out_path), "--json"]
    assert main(argv) == 0
    out = _json(capsys)
    assert {"model", "prompt", "prompt_token_ids", "nodes"} <= set(out)
    assert out["model"] == "tiny-llama" and out["prompt"] == "The quick brown"
    assert out["prompt_token_ids"] == tiny_backend.context_ids(Context(text="The quick brown"))
    assert out["batched"] and out["exact_entropy"]
    nodes = out["nodes"]
    seen: set[str] = set()
    for n in nodes:  # parents first; null parent: hanging at the prompt
        assert n["parent"] is None or n["parent"] in seen
        seen.add(n["id"])
        assert all(set(t) == TOKEN_KEYS for t in n["tokens"])
        assert n["text"] == decode(b"".join(bytes.fromhex(t["bytes"]) for t in n["tokens"]))
        assert n["reason"]
    points = [n for n in nodes if n["finish_reason"] == "branch"]
    assert points and all(n["reason"].startswith("entropy ") for n in points)
    for p in points:
        kids = [n for n in nodes if n["parent"] == p["id"]]
        assert len(kids) == 3
        # A child's first token was drawn from the branch point's distribution: its top-3.
        top = [a["token_id"] for a in kids[0]["tokens"][0]["top"][:3]]
        assert [k["tokens"][0]["token_id"] for k in kids] == top
    session = load_session(out_path)
    prompt = next(n for n in session.nodes.values() if n.plain == "The quick brown")
    want = {n["id"]: (n["parent"], n["text"], n["reason"], n["finish_reason"]) for n in nodes}
    assert _tree(session, prompt.id) == want


def test_growing_from_a_session_node(use, make_fake, capsys, tmp_path):
    use(make_fake(full=False))
    first = tmp_path / "first.json"
    assert main(["loom", "--prompt", "The cat", "--branch-entropy", "50", "--max-tokens", "3",
                 "-o", str(first), "--json"]) == 0  # fmt: skip
    only = _json(capsys)["nodes"]
    assert len(only) == 1 and only[0]["reason"] == "max tokens"
    node = only[0]["id"]
    grown = tmp_path / "grown.json"
    argv = ["loom", "--session", str(first), "--node", node[:6], "--branch-entropy", "1.5",
            "--top", "2", "--max-depth", "1", "--max-tokens", "3", "-o", str(grown), "--json"]  # fmt: skip
    assert main(argv) == 0
    out = _json(capsys)
    assert out["prompt"] == "The cat" + only[0]["text"]
    assert out["exact_entropy"] is False and not out["batched"]
    assert out["nodes"] and all(t["entropy"] is None for n in out["nodes"] for t in n["tokens"])
    reasons = [out["start_reason"] or ""] + [n["reason"] for n in out["nodes"]]
    assert any(r.endswith(">= 1.5 (lower bound)") for r in reasons), reasons
    session = load_session(grown)
    assert _tree(session, node) == {
        n["id"]: (n["parent"], n["text"], n["reason"], n["finish_reason"]) for n in out["nodes"]
    }


def test_printed_tree_and_refusals(use, make_fake, capsys):
    use(make_fake())
    assert main(["loom", "--prompt", "The cat", "--branch-entropy", "1.5", "--top", "2",
                 "--max-depth", "1", "--max-tokens", "4"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "branch point" in printed and "[depth]" in printed
    assert main(["loom", "--branch-entropy", "2"]) != 0
    assert "give either --prompt or --session" in capsys.readouterr().err
    assert main(["loom", "--prompt", "x", "--top", "0"]) != 0
    assert "at least 1" in capsys.readouterr().err
