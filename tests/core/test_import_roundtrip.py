"""loomtui -> socketteer/loom JSON -> loomtui and loomtui -> Obsidian Loom -> loomtui keep
every leaf's text byte for byte (the 764-node loom demo included), bookmarks, and a model's
tokens where loom's model responses can hold them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loomtui.cli import main
from loomtui.core.export import export
from loomtui.core.sessionfile import load_session, loads_session, save_session
from loomtui.core.tokens import Alt, Token
from loomtui.core.tree import Session


def tok(data: bytes, logprob: float | None = -0.5, alts: tuple[Alt, ...] = ()) -> Token:
    return Token(data.decode("utf-8", "replace"), data, None, logprob, alts)


def hostile_session() -> Session:
    """Plain text with escapes Obsidian Loom rewrites, a lone surrogate, a character whose
    bytes are split between two token nodes, and a model node with alternatives."""
    s = Session.new()
    s.root.plain = "Start <b> [[x]] \\< \\[ end\\"
    a = s.add_child(s.root_id, tokens=[tok(b"x"), tok(b"\xf0\x9f")], origin="model", model="m")
    b = s.add_child(a.id, tokens=[tok(b"\x98\x80"), tok(b" ok")], origin="model", model="m")
    s.add_child(b.id, plain=" lone \ud800 surrogate", origin="prompt")
    alts = (Alt(" The", b" The", None, -0.1), Alt(" A", b" A", None, -2.5))
    c = s.add_child(
        s.root_id, tokens=[tok(b" The", -0.1, alts), tok(b" end", None)], origin="model"
    )
    c.model = "gpt-x"
    c.bookmark = True
    s.add_child(c.id, plain="\x1b[2J\r\n\t", origin="edit")
    d = s.add_child(s.root_id, plain="\u00e9\u0301 日本 \U0001d518", origin="prompt")
    d.bookmark = True
    s.current_id = d.id
    return s


def leaf_bytes(session: Session) -> list[bytes]:
    return sorted(session.branch_bytes(n.id) for n in session.leaves())


def test_loom_round_trip_keeps_leaves_ids_bookmarks_and_tokens() -> None:
    s = hostile_session()
    out = export(s, "loom")
    tree = json.loads(out)
    assert set(tree) >= {"root", "selected_node_id"} and tree["root"]["id"] == s.root_id
    back = loads_session(out, "t.loom")
    # Every leaf keeps its id and its bytes, the split emoji included.
    for leaf in s.leaves():
        assert back.branch_bytes(leaf.id) == s.branch_bytes(leaf.id)
    assert {n.id for n in back.bookmarks()} == {n.id for n in s.bookmarks()}
    assert back.current_id == s.current_id
    # The model node's tokens come back through loom's model_responses.
    c = next(n for n in s.walk() if n.model == "gpt-x")
    again = back.node(c.id)
    assert again.model == "gpt-x" and again.tokens is not None
    assert [t.bytes for t in again.tokens] == [b" The", b" end"]
    assert [t.logprob for t in again.tokens] == [-0.1, None]
    assert [(a.bytes, a.logprob) for a in again.tokens[0].top] == [(b" The", -0.1), (b" A", -2.5)]


def test_obsidian_round_trip_keeps_leaves_and_bookmarks() -> None:
    s = hostile_session()
    out = export(s, "obsidian")
    note = json.loads(out)
    texts = [n["text"] for n in note["nodes"].values()]
    # Obsidian Loom's escapes are applied: no bare '<' or '[' in a stored text.
    assert all(t.replace("\\<", "").replace("\\[", "").count("<") == 0 for t in texts)
    assert all(t.replace("\\[", "").count("[") == 0 for t in texts)
    assert note["current"] == s.current_id and note["nodes"][s.root_id]["parentId"] is None
    back = loads_session(out, "t.obsidian")
    assert leaf_bytes(back) == leaf_bytes(s)
    assert sorted(n.meta["obsidian_id"] for n in back.bookmarks()) == sorted(
        n.id for n in s.bookmarks()
    )


def test_a_tree_deeper_than_the_recursion_limit_exports(tmp_path: Path) -> None:
    s = Session.new()
    at = s.root_id
    for i in range(3000):
        at = s.add_child(at, plain=f"{i} ", origin="prompt").id
    back = loads_session(export(s, "loom"), "deep.loom")
    assert back.branch_bytes(at) == s.branch_bytes(at)


@pytest.fixture(scope="module")
def loom_demo(shared_fixtures: Path) -> Path:
    return shared_fixtures / "loom" / "loom_demo.json"


@pytest.mark.parametrize("fmt", ["loom", "obsidian"])
def test_the_loom_demo_survives_both_round_trips(loom_demo: Path, fmt: str, tmp_path: Path) -> None:
    original = load_session(loom_demo)
    assert len(original.nodes) == 764
    exported = tmp_path / f"demo.{fmt}"
    session = tmp_path / "back.loomtui.json"
    assert main(["export", str(loom_demo), "--format", fmt, "-o", str(exported)]) == 0
    assert main(["import", str(exported), "-o", str(session)]) == 0
    back = load_session(session)
    assert leaf_bytes(back) == leaf_bytes(original)
    assert len(back.leaves()) == len(original.leaves()) == 584
    if fmt == "loom":  # ids are kept: leaf by leaf, and the bookmarks
        for leaf in original.leaves():
            assert back.branch_bytes(leaf.id) == original.branch_bytes(leaf.id)
        assert {n.id for n in back.bookmarks()} == {n.id for n in original.bookmarks()}
        assert back.current_id == original.current_id


def test_cli_round_trip_of_a_saved_session(tmp_path: Path, capsysbinary) -> None:
    path = tmp_path / "s.json"
    save_session(hostile_session(), path)
    for fmt in ("loom", "obsidian"):
        out = tmp_path / f"s.{fmt}"
        back = tmp_path / f"s-{fmt}.loomtui.json"
        assert main(["export", str(path), "--format", fmt, "-o", str(out)]) == 0
        assert main(["import", str(out), "-o", str(back)]) == 0
        capsysbinary.readouterr()
        assert main(["export", str(back), "--all"]) == 0
        again = capsysbinary.readouterr().out
        assert main(["export", str(path), "--all"]) == 0
        first = capsysbinary.readouterr().out
        # Node ids differ through Obsidian (it keeps its own in meta): compare the texts.
        body = sorted(part.split(b" ---\n", 1)[1] for part in first.split(b"--- node ")[1:])
        again_body = sorted(part.split(b" ---\n", 1)[1] for part in again.split(b"--- node ")[1:])
        assert again_body == body


def test_import_verb_says_the_format_and_never_writes_the_original(tmp_path: Path, capsys) -> None:
    src = tmp_path / "tree.json"
    src.write_text(json.dumps({"nodes": {"a": {"id": "a", "parent_id": None, "text": "Wool"}}}))
    before = src.read_bytes()
    assert main(["import", str(src)]) == 0
    said = capsys.readouterr().out
    assert "lyramakesmusic/wool" in said and "tree.loomtui.json" in said
    assert src.read_bytes() == before
    assert load_session(tmp_path / "tree.loomtui.json").branch_text("a") == "Wool"
    # An existing output is never replaced; a forced format of another shape is refused.
    assert main(["import", str(src)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["import", str(src), "-o", str(tmp_path / "x.json"), "--format", "bonsai"]) == 2
    assert "not a bonsai file" in capsys.readouterr().err
    assert main(["info", str(src)]) == 0
    assert "imported    from lyramakesmusic/wool" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        (
            "tree.jsonl",
            b'{"id": "a", "text": "Lines"}\n{"id": "b", "text": " two", "parent_id": "a"}\n',
        ),
        (
            "mini.json",
            json.dumps(
                {
                    "loomTree": {
                        "nodeStore": {
                            "1": {"id": "1", "type": "root", "patch": "", "parent": None},
                            "b": {
                                "id": "b",
                                "type": "user",
                                "parent": "1",
                                "patch": [{"diffs": [[1, "Mini two"]], "start1": 0, "start2": 0}],
                            },
                        }
                    },
                    "focus": {"id": "b"},
                }
            ).encode(),
        ),
    ],
)
def test_opening_a_new_format_saves_beside_it(name: str, raw: bytes, tmp_path: Path) -> None:
    from loomtui.core.store import SessionStore

    src = tmp_path / name
    src.write_bytes(raw)
    store = SessionStore.open(src)
    try:
        assert store.path == tmp_path / (src.stem + ".loomtui.json")
        assert store.session.branch_text("b").endswith(" two")
        store.session.set_bookmark("b")
        store.save()
    finally:
        store.close()
    assert src.read_bytes() == raw
    assert load_session(tmp_path / (src.stem + ".loomtui.json")).node("b").bookmark
