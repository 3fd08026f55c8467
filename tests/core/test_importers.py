"""Importing other looms' files: socketteer/loom (real demo file), logitloom, Obsidian Loom."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loomtui.cli import main
from loomtui.core.errors import SessionFileError
from loomtui.core.sessionfile import dumps_session, load_session, loads_session


def _expected_leaves(raw: dict) -> dict[str, str]:
    """Every leaf's full text, computed straight from the loom JSON (iteratively)."""
    out: dict[str, str] = {}
    stack = [(raw["root"], "")]
    while stack:
        node, prefix = stack.pop()
        text = prefix + node.get("text", "")
        if not node.get("children"):
            out[str(node["id"])] = text
        for child in node.get("children", []):
            stack.append((child, text))
    return out


@pytest.fixture(scope="session")
def loom_demo(shared_fixtures: Path) -> Path:
    return shared_fixtures / "loom" / "loom_demo.json"


def test_loom_demo_every_leaf_exports_exactly(loom_demo: Path, capsysbinary) -> None:
    expected = _expected_leaves(json.loads(loom_demo.read_text("utf-8")))
    assert len(expected) > 500
    assert main(["export", str(loom_demo), "--all", "--format", "jsonl"]) == 0
    lines = capsysbinary.readouterr().out.decode("ascii").splitlines()
    got = {rec["node"]: rec["text"] for rec in map(json.loads, lines)}
    assert got == expected


def test_loom_demo_single_leaf_text_export_is_byte_exact(loom_demo: Path, capsysbinary) -> None:
    expected = _expected_leaves(json.loads(loom_demo.read_text("utf-8")))
    for node_id in sorted(expected)[:: max(1, len(expected) // 15)]:
        assert main(["export", str(loom_demo), "--node", node_id]) == 0
        assert capsysbinary.readouterr().out == expected[node_id].encode("utf-8")


def test_loom_demo_structure_is_kept(loom_demo: Path) -> None:
    raw = json.loads(loom_demo.read_text("utf-8"))
    s = load_session(loom_demo)
    stats = s.stats()
    assert stats["nodes"] == 764 and stats["depth"] == 21
    assert s.current_id == raw["selected_node_id"]
    assert s.root_id == str(raw["root"]["id"])
    assert all(n.origin == "import" for n in s.nodes.values())
    # Children order is the file's order.
    assert s.root.children == [str(c["id"]) for c in raw["root"]["children"]]
    # Bookmarks come from loom's tags.
    tagged = set()
    stack = [raw["root"]]
    while stack:
        n = stack.pop()
        if "bookmark" in n.get("tags", []):
            tagged.add(str(n["id"]))
        stack.extend(n.get("children", []))
    assert {n.id for n in s.bookmarks()} == tagged and tagged
    # Imported, saved and reloaded: nothing changes.
    b = dumps_session(s)
    assert dumps_session(loads_session(b)) == b


def test_loom_template_text_is_never_evaluated(tmp_path: Path, capsysbinary) -> None:
    tree = {
        "root": {
            "id": "r",
            "text": "Hi {input} ${__import__('os')} {{x}}",
            "children": [
                {"id": "c", "text": " {prompt}", "children": [], "meta": {"source": "template"}}
            ],
        },
        "selected_node_id": "c",
    }
    path = tmp_path / "t.json"
    path.write_text(json.dumps(tree))
    assert main(["export", str(path)]) == 0
    assert capsysbinary.readouterr().out == b"Hi {input} ${__import__('os')} {{x}} {prompt}"


def test_loom_model_response_tokens_attach_when_they_line_up(shared_fixtures: Path) -> None:
    response = json.loads((shared_fixtures / "loom" / "model_response_formatted.json").read_text())
    tree = {
        "root": {
            "id": "r",
            "text": "Test prompt",
            "children": [
                {
                    "id": "a",
                    "text": "\n",
                    "generation": {"id": response["id"], "index": 0},
                    "children": [],
                },
                {
                    "id": "b",
                    "text": " on",
                    "generation": {"id": response["id"], "index": 1},
                    "children": [],
                },
                {
                    "id": "c",
                    "text": " off",
                    "generation": {"id": response["id"], "index": 1},
                    "children": [],
                },
            ],
        },
        "model_responses": {response["id"]: response},
    }
    s = loads_session(json.dumps(tree).encode(), "t.json")
    a, b, c = s.node("a"), s.node("b"), s.node("c")
    assert a.tokens is not None and [t.text for t in a.tokens] == ["\n"]
    assert a.tokens[0].logprob == pytest.approx(-2.410658)
    assert b.tokens[0].logprob == pytest.approx(-5.0854616)
    assert a.model == "curie:2020-05-03"
    assert c.tokens is None and c.plain == " off"  # did not line up: stays plain text
    assert s.branch_text("b") == "Test prompt on"


def test_deep_loom_chain_imports_without_recursion(tmp_path: Path) -> None:
    # Built as text: json.dumps itself would recurse. 3000 levels = 6000 JSON nesting levels,
    # far past Python's default recursion limit.
    depth = 3000
    text = '{"root":' + "".join(f'{{"id":"n{i}","text":"{i} ","children":[' for i in range(depth))
    text += "]}" * depth + "}"
    s = loads_session(text.encode(), "deep.json")
    assert s.stats()["depth"] == depth - 1
    assert s.branch_text(f"n{depth - 1}").startswith("0 1 2 ")


def test_tapestry_weave_is_refused_clearly(shared_fixtures: Path) -> None:
    path = shared_fixtures / "tapestry" / "write_good.tapestry.head256.bin"
    with pytest.raises(SessionFileError, match="Tapestry-Loom"):
        load_session(path)


def test_logitloom_tree_imports_tokens_and_not_secrets() -> None:
    tree = {
        "isLogitLoomTreeVersion": "logit-loom-tree-v1",
        "modelName": "llama",
        "modelSettings": {"kind": "base", "prompt": "The sky is", "apiKey": "sk-secret"},
        "roots": [
            {
                "id": "1",
                "text": " blue",
                "logprob": -0.2,
                "prob": 0.82,
                "children": [
                    {"id": "2", "text": ".", "logprob": -0.1, "prob": 0.9, "children": []}
                ],
            },
            {"id": "3", "text": " grey", "logprob": -2.0, "prob": 0.13, "children": []},
        ],
    }
    s = loads_session(json.dumps(tree).encode(), "t.ll.json")
    texts = sorted(s.branch_text(leaf.id) for leaf in s.leaves())
    assert texts == ["The sky is blue.", "The sky is grey"]
    assert b"sk-secret" not in dumps_session(s)
    leaf = next(n for n in s.nodes.values() if n.tokens and n.tokens[0].text == " grey")
    assert leaf.tokens[0].logprob == -2.0 and leaf.model == "llama"


def test_obsidian_loom_data_imports_notes_and_not_settings() -> None:
    data = {
        "settings": {"openaiApiKey": "sk-secret"},
        "state": {
            "story.md": {
                "current": "c",
                "hoisted": [],
                "nodes": {
                    "c": {"text": " \\<b> and \\[link]", "parentId": "a", "bookmarked": True},
                    "a": {"text": "Start", "parentId": None},
                    "d": {"text": " other", "parentId": "a"},
                },
            }
        },
    }
    s = loads_session(json.dumps(data).encode(), "data.json")
    assert s.branch_text(s.current_id) == "Start <b> and [link]"
    assert s.current.bookmark
    assert b"sk-secret" not in dumps_session(s)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "id",
        "text",
        "children",
        "tags",
        "meta",
        "generation",
        "parentId",
        "nodes",
        "parent_id",
        "bookmark",
        "visited",
        "logprob",
    ]
)


@st.composite
def _foreign(draw):
    node = st.dictionaries(_keys, _json, max_size=5)
    kind = draw(st.sampled_from(["loom", "logitloom", "obsidian"]))
    if kind == "loom":
        root = draw(node)
        root["children"] = draw(st.lists(node, max_size=3))
        return {"root": root, "selected_node_id": draw(_json), "model_responses": draw(_json)}
    if kind == "logitloom":
        return {
            "isLogitLoomTreeVersion": "logit-loom-tree-v1",
            "roots": draw(st.lists(node, max_size=3)),
            "modelSettings": draw(_json),
        }
    nodes = draw(st.dictionaries(st.text(max_size=3), node, max_size=4))
    return {"state": {"n": {"nodes": nodes, "current": draw(_json)}}}


@settings(max_examples=200, deadline=None)
@given(_foreign())
def test_odd_foreign_files_give_a_session_or_one_line_error(data) -> None:
    try:
        s = loads_session(json.dumps(data).encode(), "odd.json")
    except SessionFileError as exc:
        assert "\n" not in str(exc)
        return
    for leaf in s.leaves():
        s.branch_bytes(leaf.id)
    dumps_session(s)
