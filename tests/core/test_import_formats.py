"""Importing the other JSON looms: exoloom, MiniLoom, tinyloom, wool, basemode-loom, bonsai,
socketteer/loom's simple tree, bare node, bare list and JSON lines, mikupad's database.

Each test writes a file in the format's shape (from ../shared/reference/loom-formats.md and
the tools' source) from a random tree of awkward text, and checks every node's full text
against the text the test computes itself from the same tree.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from diff_match_patch import diff_match_patch

from loomtui.core.sessionfile import dumps_session, loads_session
from loomtui.core.siblings import is_shown

#: Text that trips importers: astral characters (two UTF-16 units in JavaScript), markup,
#: Obsidian's escapes, combining marks, control characters, CJK.
PIECES = [
    "Once",
    " upon",
    " a time",
    " \U0001f600",
    "<b>",
    "[[link]]",
    " \\<",
    "é",
    "e\u0301",
    "\t\n",
    "日本語",
    " ",
    "\\[x",
    "\U0001d518\U0001d518",
    "\x1b[31m",
    "",
]

Tree = list[tuple[str, "str | None", str]]  # (id, parent id, the node's own text)


def random_tree(seed: int, size: int = 40) -> Tree:
    """A random tree: each node under a random earlier one, its text a few random pieces."""
    rng = random.Random(seed)
    tree: Tree = [("n0", None, "".join(rng.choices(PIECES, k=3)))]
    for i in range(1, size):
        parent = tree[rng.randrange(len(tree))][0]
        tree.append((f"n{i}", parent, "".join(rng.choices(PIECES, k=rng.randrange(0, 4)))))
    return tree


def full_texts(tree: Tree) -> dict[str, str]:
    """Every node's full text: its ancestors' texts joined, root first."""
    own = {nid: text for nid, _, text in tree}
    parent = {nid: p for nid, p, _ in tree}
    out = {}
    for nid in own:
        parts = []
        at: str | None = nid
        while at is not None:
            parts.append(own[at])
            at = parent[at]
        out[nid] = "".join(reversed(parts))
    return out


def leaves(tree: Tree) -> set[str]:
    parents = {p for _, p, _ in tree}
    return {nid for nid, _, _ in tree if nid not in parents}


def children(tree: Tree, nid: str) -> list[str]:
    return [c for c, p, _ in tree if p == nid]


def load(data: Any) -> Any:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return loads_session(raw, "file.json")


def assert_texts(session: Any, expected: dict[str, str]) -> None:
    """Every node of ``expected`` exists and spells its text exactly (as bytes)."""
    for nid, text in expected.items():
        assert session.branch_bytes(nid) == text.encode("utf-8", "surrogatepass"), nid


def assert_saves(session: Any) -> None:
    """The imported session saves and reloads to the same bytes."""
    b = dumps_session(session)
    assert dumps_session(loads_session(b)) == b


# --------------------------------------------------------------------------- writers
def exoloom_file(tree: Tree) -> dict[str, Any]:
    ids = {nid: i + 1 for i, (nid, _, _) in enumerate(tree)}
    nodes = {}
    for nid, parent, text in tree:
        nodes[str(ids[nid])] = {
            "content": text,
            "authorType": "LLM" if ids[nid] % 2 else "USER",
            "authorName": "exo-model" if ids[nid] % 2 else None,
            "parentId": None if parent is None else ids[parent],
            "childrenIds": [ids[c] for c in children(tree, nid)],
            "createdAt": f"2025-01-0{1 + ids[nid] % 9}T10:00:00Z",
        }
    return {
        "loomType": "Exoloom",
        "version": "1.0.0",
        "schemaVersion": 1,
        "tree": {"title": "My exo tree", "rootNodeId": 1, "nodes": nodes},
        "lens": {"bookmarks": [{"nodeId": 2}], "prunedNodes": [{"nodeId": 3}]},
    }


def js_units(text: str) -> str:
    """``text`` as JavaScript sees it: one character per UTF-16 code unit."""
    data = text.encode("utf-16-le", "surrogatepass")
    return "".join(chr(int.from_bytes(data[i : i + 2], "little")) for i in range(0, len(data), 2))


def js_patch(before: str, after: str, diff_objects: bool = False) -> list[dict[str, Any]]:
    """diff-match-patch's ``patch_make`` as MiniLoom runs it in JavaScript (UTF-16 offsets),
    as JSON. ``diff_objects``: diffs as the JS library's stripped ``Diff`` objects."""
    dmp = diff_match_patch()
    out = []
    for p in dmp.patch_make(js_units(before), js_units(after)):
        diffs = [{"0": op, "1": t} if diff_objects else [op, t] for op, t in p.diffs]
        out.append(
            {
                "diffs": diffs,
                "start1": p.start1,
                "start2": p.start2,
                "length1": p.length1,
                "length2": p.length2,
            }
        )
    return out


def rewrite(text: str, rng: random.Random) -> str:
    """A rewrite: the text with a word replaced and a piece cut (not an append)."""
    if not text:
        return "rewritten"
    cut = rng.randrange(len(text))
    return text[:cut] + " REWRITTEN \U0001f504 " + text[cut + 1 :]


def miniloom_file(
    tree: Tree, seed: int, diff_objects: bool = False
) -> tuple[dict[str, Any], dict[str, str]]:
    """A MiniLoom file whose nodes hold patches; about one in five is a rewrite. Returns the
    file and each node's full text (MiniLoom's root is the empty node "1")."""
    rng = random.Random(seed)
    ids = {nid: str(i + 2) for i, (nid, _, _) in enumerate(tree)}
    parent_of = {nid: p for nid, p, _ in tree}
    full: dict[str, str] = {"1": ""}
    store: dict[str, Any] = {
        "1": {
            "id": "1",
            "timestamp": 1700000000000,
            "type": "root",
            "patch": "",
            "summary": "Root Node",
            "rating": None,
            "read": True,
            "parent": None,
            "children": [ids[tree[0][0]]],
            "model": None,
            "error": None,
            "finishReason": None,
        }
    }
    for i, (nid, parent, text) in enumerate(tree):
        pid = "1" if parent is None else ids[parent]
        kind = "rewrite" if i and rng.random() < 0.2 else ("gen" if i % 2 else "user")
        mine = rewrite(full[pid], rng) if kind == "rewrite" else full[pid] + text
        full[ids[nid]] = mine
        store[ids[nid]] = {
            "id": ids[nid],
            "timestamp": 1700000000000 + i * 1000,
            "type": kind,
            "patch": js_patch(full[pid], mine, diff_objects),
            "summary": f"summary {i}",
            "rating": [None, True, False][i % 3],
            "read": i % 2 == 0,
            "parent": pid,
            "children": [ids[c] for c in children(tree, nid)],
            "model": "mini-model" if kind == "gen" else None,
            "error": None,
            "finishReason": "length" if kind == "gen" else None,
        }
        del parent_of[nid]
    last = ids[tree[-1][0]]
    focus = dict(store[last], cachedRenderText=full[last], treeStats={"maxChildDepth": 0})
    return {"loomTree": {"nodeStore": store}, "focus": focus}, full


def tinyloom_file(tree: Tree) -> dict[str, Any]:
    """tinyloom: each node a whole diff (no positions) from its parent's text."""
    dmp = diff_match_patch()
    full = full_texts(tree)
    nodes = {}
    for i, (nid, parent, _) in enumerate(tree):
        before = "" if parent is None else full[parent]
        nodes[nid] = {
            "id": nid,
            "parent": parent,
            "type": "root" if parent is None else "tiny-model",
            "patches": [{"diffs": [list(d) for d in dmp.diff_main(before, full[nid])]}],
            "timestamp": 1700000000 + i,
            "children": children(tree, nid),
            "bookmarked": i == 1,
            "hidden": i == 2,
        }
    return {"root": tree[0][0], "nodes": nodes}


def wool_file(tree: Tree) -> dict[str, Any]:
    nodes = {
        nid: {
            "id": nid,
            "parent_id": parent,
            "type": "ai",
            "text": text,
            "position": {"x": 400, "y": 300},
            "loading": False,
            "error": "Request timed out" if nid == "n1" else None,
        }
        for nid, parent, text in tree
    }
    return {"nodes": nodes, "focused_node_id": tree[-1][0]}


def basemode_file(tree: Tree) -> dict[str, Any]:
    nodes = []
    for i, (nid, parent, text) in enumerate(tree):
        nodes.append(
            {
                "id": nid,
                "parent_id": parent,
                "root_id": tree[0][0],
                "text": text,
                "model": "base-model" if parent else None,
                "strategy": "system",
                "max_tokens": 20,
                "temperature": 0.9,
                "branch_index": 0,
                "created_at": "2025-05-01T12:00:00+00:00",
                "metadata": {
                    "bookmarked": i == 1,
                    "hidden": i == 2,
                    "rating": 4,
                    "generation_id": "g",
                },
            }
        )
    return {"version": 1, "nodes": nodes}


def bonsai_file(tree: Tree) -> dict[str, Any]:
    nodes = []
    edges = []
    for i, (nid, parent, text) in enumerate(tree):
        parents = [] if parent is None else [parent]
        if i == 5:  # a second parent: bonsai is a graph
            parents.append(tree[1][0])
        nodes.append(
            {
                "id": nid,
                "text": text,
                "childrenIds": children(tree, nid),
                "parentIds": parents,
                "group": "normal",
                "visible": i != 3,
                "tags": [],
                "createdAt": 1700000000000 + i,
                "lastVisited": 1700000000000 + i,
                "lastUpdated": 1700000000000 + i,
                "logprobs": None,
                "generationSettings": None,
                "label": "the start" if i == 0 else "",
            }
        )
        edges.extend({"from": p, "to": nid, "relation": "parentId"} for p in parents)
    return {
        "nodes": nodes,
        "edges": edges,
        "name": "graph_1",
        "pathNodes": [tree[0][0]],
        "focusedId": tree[-1][0],
    }


def nested(tree: Tree, with_ids: bool) -> dict[str, Any]:
    """socketteer/loom's nested node (``save_simple_tree`` has no ids)."""
    built: dict[str, dict[str, Any]] = {}
    for nid, parent, text in tree:
        node: dict[str, Any] = {"text": text, "children": []}
        if with_ids:
            node = {"id": nid, **node}
        built[nid] = node
        if parent is not None:
            built[parent]["children"].append(node)
    return built[tree[0][0]]


def jsonl_file(tree: Tree) -> bytes:
    """``save_jsonl``: one ``{id, text, parent_id}`` per line; the root has no parent_id."""
    lines = []
    for nid, parent, text in tree:
        line: dict[str, Any] = {"id": nid, "text": text}
        if parent is not None:
            line["parent_id"] = parent
        lines.append(json.dumps(line))
    return ("\n".join(lines) + "\n").encode()


# --------------------------------------------------------------------------- exoloom
@pytest.mark.parametrize("seed", range(5))
def test_exoloom_every_node_spells_its_text(seed: int) -> None:
    tree = random_tree(seed)
    s = load(exoloom_file(tree))
    ids = {nid: str(i + 1) for i, (nid, _, _) in enumerate(tree)}
    assert_texts(s, {ids[n]: t for n, t in full_texts(tree).items()})
    assert {n.id for n in s.leaves()} == {ids[n] for n in leaves(tree)}
    assert_saves(s)


def test_exoloom_keeps_authors_bookmarks_prunes_times_and_title() -> None:
    s = load(exoloom_file(random_tree(1)))
    assert s.meta["imported_from"] == "exoloom"
    assert s.root.label == "My exo tree"
    assert s.node("1").origin == "model" and s.node("1").model == "exo-model"
    assert s.node("2").origin == "prompt" and s.node("2").model is None
    assert [n.id for n in s.bookmarks()] == ["2"]
    assert s.node("3").hidden and s.node("3").meta == {}  # pruned: soft-hidden, kept
    assert s.node("2").created == 1735898400.0  # 2025-01-03T10:00:00Z
    # No active node in exoloom: the session opens on a leaf, never the bare root.
    assert not s.current.children


# --------------------------------------------------------------------------- MiniLoom
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("diff_objects", [False, True])
def test_miniloom_patches_are_applied_from_the_root(seed: int, diff_objects: bool) -> None:
    tree = random_tree(seed)
    data, full = miniloom_file(tree, seed, diff_objects)
    s = load(data)
    assert_texts(s, full)  # rewrites included: every node spells MiniLoom's text
    assert s.current_id == data["focus"]["id"]
    assert_saves(s)


def test_miniloom_a_rewrite_is_not_its_inserts_joined() -> None:
    before, after = "The cat sat on the mat.", "The dog sat on the mat."
    store = {
        "1": {"id": "1", "type": "root", "patch": "", "parent": None, "children": ["2"]},
        "2": {"id": "2", "type": "user", "patch": js_patch("", before), "parent": "1"},
        "3": {"id": "3", "type": "rewrite", "patch": js_patch(before, after), "parent": "2"},
    }
    s = load({"loomTree": {"nodeStore": store}, "focus": {"id": "3"}})
    assert s.branch_text("3") == after  # joining inserts would give "...mat.dog" or "dog"
    assert s.node("3").meta["patch_parent"] == "2"
    assert s.node("3").origin == "edit"


def test_miniloom_astral_characters_count_as_two_units() -> None:
    # Offsets past an emoji differ between UTF-16 (JavaScript) and code points (Python).
    base = "\U0001f600" * 40 + " middle " + "x" * 80
    after = base.replace(" middle ", " MIDDLE ")
    store = {
        "1": {"id": "1", "type": "root", "patch": "", "parent": None},
        "2": {"id": "2", "type": "user", "patch": js_patch("", base), "parent": "1"},
        "3": {"id": "3", "type": "rewrite", "patch": js_patch(base, after), "parent": "2"},
    }
    s = load({"loomTree": {"nodeStore": store}, "focus": {"id": "3"}})
    assert s.branch_text("3") == after


def test_miniloom_keeps_ratings_summaries_models_times_and_reads() -> None:
    data, _ = miniloom_file(random_tree(2), 2)
    s = load(data)
    store = data["loomTree"]["nodeStore"]
    for nid, raw in store.items():
        node = s.node(nid)
        assert node.label == raw["summary"]
        assert node.created == raw["timestamp"] / 1000
        assert node.visited is raw["read"]
        # thumbs up/down are our +1/-1 (out of meta: one place holds a rating)
        assert node.rating == {True: 1, False: -1, None: None}[raw["rating"]]
        assert "rating" not in node.meta
        assert node.model == raw["model"]
        assert node.finish_reason == raw["finishReason"]
    assert s.meta["imported_from"] == "JD-P/miniloom"


# --------------------------------------------------------------------------- tinyloom
@pytest.mark.parametrize("seed", range(4))
def test_tinyloom_diffs_rebuild_every_text(seed: int) -> None:
    tree = random_tree(seed)
    s = load(tinyloom_file(tree))
    assert_texts(s, full_texts(tree))
    assert s.node("n1").bookmark and s.node("n2").hidden and "hidden" not in s.node("n2").meta
    assert s.node("n1").model == "tiny-model" and s.root.model is None
    assert_saves(s)


# --------------------------------------------------------------------------- wool
@pytest.mark.parametrize("seed", range(4))
def test_wool_every_node_spells_its_text(seed: int) -> None:
    tree = random_tree(seed)
    s = load(wool_file(tree))
    assert_texts(s, full_texts(tree))
    assert s.current_id == tree[-1][0]
    assert s.node("n1").error == "Request timed out"
    assert s.meta["imported_from"] == "lyramakesmusic/wool"
    assert_saves(s)


# --------------------------------------------------------------------------- basemode
@pytest.mark.parametrize("seed", range(4))
def test_basemode_every_node_spells_its_text(seed: int) -> None:
    tree = random_tree(seed)
    s = load(basemode_file(tree))
    assert_texts(s, full_texts(tree))
    assert [n.id for n in s.bookmarks()] == ["n1"]
    # hidden: soft-hidden; a 4 is not on our -1/0/+1 scale, so it stays as written
    assert s.node("n2").hidden and s.node("n2").meta["rating"] == 4
    assert "hidden" not in s.node("n2").meta
    assert s.node("n2").rating is None
    assert s.node("n1").model == "base-model"
    assert s.node("n1").created == 1746100800.0
    assert_saves(s)


def test_basemode_several_roots_hang_under_one_empty_root() -> None:
    data = basemode_file(random_tree(1, 6))
    second = basemode_file([("m0", None, "Other"), ("m1", "m0", " tree")])
    for node in second["nodes"]:
        node["root_id"] = "m0"
    data["nodes"] += second["nodes"]
    s = load(data)
    assert s.root.text == "" and s.root.children == ["n0", "m0"]
    assert s.branch_text("m1") == "Other tree"


def shown_part(s: Any, node_id: str) -> str:
    """``node_id``, or its nearest ancestor that no hidden node is above (or is)."""
    path = s.path(node_id)
    while not is_shown(s, path[-1].id):
        path.pop()
    return path[-1].id


# --------------------------------------------------------------------------- bonsai
@pytest.mark.parametrize("seed", range(4))
def test_bonsai_first_parent_is_the_tree_parent_the_others_links(seed: int) -> None:
    tree = random_tree(seed)
    data = bonsai_file(tree)
    s = load(data)
    assert_texts(s, full_texts(tree))
    assert s.node("n5").parent == dict((n, p) for n, p, _ in tree)["n5"]
    assert s.node("n5").meta["links"] == ["n1"]
    assert s.node("n3").hidden
    assert s.root.label == "the start"
    assert s.current_id == shown_part(s, tree[-1][0])  # never left on a hidden node
    assert_saves(s)


# --------------------------------------------------------------------------- socketteer/loom
@pytest.mark.parametrize("seed", range(3))
def test_loom_simple_tree_without_ids_keeps_every_leaf(seed: int) -> None:
    tree = random_tree(seed)
    s = load(nested(tree, with_ids=False))
    expected = sorted(full_texts(tree)[n] for n in leaves(tree))
    assert sorted(s.branch_text(n.id) for n in s.leaves()) == expected
    assert s.meta["imported_from"] == "socketteer/loom (simple tree)"


def test_loom_bare_node_and_bare_list() -> None:
    tree = random_tree(4)
    s = load(nested(tree, with_ids=True))
    assert_texts(s, full_texts(tree))
    assert s.meta["imported_from"] == "socketteer/loom (bare node)"
    # A bare list: the children of an empty root, as loom's load_tree_data makes it.
    s = load([nested(tree, with_ids=True), {"id": "x", "text": "Another start"}])
    assert_texts(s, full_texts(tree))
    assert s.branch_text("x") == "Another start" and s.root.text == ""
    assert s.current_id == "n0"  # loom selects the root's first child


def test_loom_export_subtree_shape_with_tags_and_chapters() -> None:
    tree = random_tree(5)
    data = {"root": nested(tree, with_ids=True), "tags": {"bookmark": {}}, "chapters": {}}
    s = load(data)
    assert_texts(s, full_texts(tree))


@pytest.mark.parametrize("seed", range(3))
def test_loom_jsonl_export(seed: int) -> None:
    tree = random_tree(seed)
    s = loads_session(jsonl_file(tree), "tree.jsonl")
    assert_texts(s, full_texts(tree))
    assert s.meta["imported_from"] == "socketteer/loom (JSON lines)"
    # Detected from the bytes, whatever the file is called.
    assert loads_session(jsonl_file(tree), "tree.json").branch_text("n1") == full_texts(tree)["n1"]


def test_a_one_line_jsonl_is_a_bare_node() -> None:
    s = loads_session(b'{"id": "a", "text": "alone"}\n', "one.jsonl")
    assert s.branch_text(s.current_id) == "alone"


# --------------------------------------------------------------------------- mikupad database
def mikupad_db() -> dict[str, Any]:
    return {
        "Sessions": [
            {"key": "nextSessionId", "value": 3},
            {
                "key": 0,
                "value": {
                    "prompt": [
                        {"type": "user", "content": "Tell me"},
                        {
                            "content": " a",
                            "prob": 0.5,
                            "completion_probabilities": [
                                {
                                    "content": " a",
                                    "probs": [
                                        {"tok_str": " a", "prob": 0.5},
                                        {"tok_str": " the", "prob": 0.3},
                                    ],
                                }
                            ],
                        },
                    ],
                    "endpoint": "http://user:CANARY-ENDPOINT@host:8080",
                    "endpointAPIKey": "sk-CANARY-KEY",
                    "endpointModel": "miku-model",
                    "temperature": 0.7,
                },
            },
            {"key": 2, "value": {"prompt": [{"type": "user", "content": "Second \U0001f600"}]}},
            {"key": "selectedSessionId", "value": 2},
        ],
        "Names": [{"key": 0, "value": "first session"}, {"key": 2, "value": "second"}],
        "Templates": [],
        "Themes": [],
    }


def test_mikupad_database_one_branch_per_session() -> None:
    s = load(mikupad_db())
    tops = s.children(s.root_id)
    assert [t.label for t in tops] == ["first session", "second"]
    texts = sorted(s.branch_text(n.id) for n in s.leaves())
    assert texts == ["Second \U0001f600", "Tell me a"]
    assert s.branch_text(s.current_id) == "Second \U0001f600"  # mikupad's selected session
    model = next(n for n in s.walk() if n.origin == "model")
    assert model.model == "miku-model"
    (token,) = model.tokens
    assert [a.text for a in token.top] == [" a", " the"]
    assert token.logprob == pytest.approx(-0.6931, abs=1e-3)
    assert s.meta["imported_from"] == "lmg-anon/mikupad (database)"
    assert_saves(s)
