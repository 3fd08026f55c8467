"""Bad files of every new format: one line and exit 2 through the CLI, never a traceback;
fuzzed files never raise anything but SessionFileError; API keys and endpoints in a file
never reach an output, a saved session or an export."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loomtui.cli import main
from loomtui.core.errors import SessionFileError
from loomtui.core.importers import FORMATS, import_foreign, import_raw
from loomtui.core.sessionfile import dumps_session, load_session


def _patch(diffs: list[list[Any]], start: int = 0) -> list[dict[str, Any]]:
    len1 = sum(len(t) for op, t in diffs if op <= 0)
    len2 = sum(len(t) for op, t in diffs if op >= 0)
    return [{"diffs": diffs, "start1": start, "start2": start, "length1": len1, "length2": len2}]


def exoloom() -> dict[str, Any]:
    return {
        "loomType": "Exoloom",
        "schemaVersion": 1,
        "tree": {
            "rootNodeId": 1,
            "nodes": {
                "1": {
                    "content": "A",
                    "authorType": "USER",
                    "parentId": None,
                    "childrenIds": [2, 3],
                },
                "2": {"content": "b", "authorType": "LLM", "parentId": 1, "childrenIds": []},
                "3": {"content": "c", "authorType": "LLM", "parentId": 1, "childrenIds": []},
            },
        },
        "lens": {"bookmarks": [{"nodeId": 2}], "prunedNodes": []},
    }


def miniloom() -> dict[str, Any]:
    return {
        "loomTree": {
            "nodeStore": {
                "1": {"id": "1", "type": "root", "patch": "", "parent": None, "children": ["2"]},
                "2": {"id": "2", "type": "user", "patch": _patch([[1, "abc"]]), "parent": "1"},
                "3": {
                    "id": "3",
                    "type": "gen",
                    "patch": _patch([[0, "abc"], [1, "d"]]),
                    "parent": "2",
                },
            }
        },
        "focus": {"id": "3"},
    }


def tinyloom() -> dict[str, Any]:
    return {
        "root": "r",
        "nodes": {
            "r": {"id": "r", "parent": None, "patches": None, "children": ["c"]},
            "c": {"id": "c", "parent": "r", "type": "m", "patches": [{"diffs": [[1, "hi"]]}]},
        },
    }


def wool() -> dict[str, Any]:
    return {
        "nodes": {
            "a": {"id": "a", "parent_id": None, "type": "ai", "text": "A"},
            "b": {"id": "b", "parent_id": "a", "type": "ai", "text": "b"},
        },
        "focused_node_id": "b",
    }


def basemode() -> dict[str, Any]:
    return {
        "version": 1,
        "nodes": [
            {"id": "r", "parent_id": None, "root_id": "r", "text": "A", "metadata": {}},
            {
                "id": "c",
                "parent_id": "r",
                "root_id": "r",
                "text": "b",
                "metadata": {"hidden": True},
            },
        ],
    }


def bonsai() -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "r", "text": "A", "childrenIds": ["c"], "parentIds": []},
            {"id": "c", "text": "b", "childrenIds": [], "parentIds": ["r"]},
        ],
        "edges": [{"from": "r", "to": "c", "relation": "parentId"}],
        "pathNodes": ["r"],
        "focusedId": "c",
    }


def mikupad_db() -> dict[str, Any]:
    return {
        "Sessions": [{"key": 0, "value": {"prompt": [{"type": "user", "content": "A"}]}}],
        "Names": [{"key": 0, "value": "n"}],
    }


def loom_node() -> dict[str, Any]:
    return {"text": "A", "children": [{"text": "b", "children": []}]}


def loom_list() -> list[Any]:
    return [{"text": "A", "children": [{"text": "b"}]}]


#: A valid file of each new format, by registry name.
VALID = {
    "exoloom": exoloom,
    "miniloom": miniloom,
    "tinyloom": tinyloom,
    "wool": wool,
    "basemode-loom": basemode,
    "bonsai": bonsai,
    "mikupad-db": mikupad_db,
    "socketteer/loom-node": loom_node,
    "socketteer/loom-list": loom_list,
}


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    data = copy.deepcopy(data)
    at = data
    for key in path[:-1]:
        at = at[key]
    at[path[-1]] = value
    return data


def _nodes(d: dict[str, Any]) -> dict[str, Any]:
    return d["tree"]["nodes"]


#: (name, a broken file, what the one line must say)
BAD: list[tuple[str, Any, str]] = [
    (
        "exoloom missing parent",
        _set(exoloom(), ("tree", "nodes", "3", "parentId"), 99),
        "missing parent",
    ),
    (
        "exoloom cycle",
        _set(
            _set(exoloom(), ("tree", "nodes", "2", "parentId"), 3),
            ("tree", "nodes", "3", "parentId"),
            2,
        ),
        "cycle",
    ),
    (
        "exoloom wrong type",
        _set(exoloom(), ("tree", "nodes", "2", "content"), 5),
        "content is not a string",
    ),
    ("exoloom version", _set(exoloom(), ("schemaVersion",), 2), "schemaVersion"),
    (
        "miniloom patch does not apply",
        _set(
            miniloom(),
            ("loomTree", "nodeStore", "3", "patch"),
            _patch([[0, "nothing like the parent text"], [1, "d"]]),
        ),
        "does not apply",
    ),
    (
        "miniloom missing parent",
        _set(miniloom(), ("loomTree", "nodeStore", "3", "parent"), "9"),
        "missing parent",
    ),
    (
        "miniloom cycle",
        _set(miniloom(), ("loomTree", "nodeStore", "1", "parent"), "3"),
        "cycle",
    ),
    (
        "miniloom patch wrong type",
        _set(miniloom(), ("loomTree", "nodeStore", "2", "patch"), 5),
        "patch",
    ),
    (
        "miniloom bad diff op",
        _set(miniloom(), ("loomTree", "nodeStore", "2", "patch"), _patch([[7, "abc"]])),
        "diff",
    ),
    (
        "tinyloom patch does not apply",
        _set(
            tinyloom(),
            ("nodes", "c", "patches"),
            [{"diffs": [[0, "a context the parent never had"], [-1, "q"]]}],
        ),
        "does not apply",
    ),
    ("wool missing parent", _set(wool(), ("nodes", "b", "parent_id"), "gone"), "missing parent"),
    ("wool cycle", _set(wool(), ("nodes", "a", "parent_id"), "b"), "cycle"),
    ("wool wrong type", _set(wool(), ("nodes", "b", "text"), ["b"]), "text is not a string"),
    ("basemode missing parent", _set(basemode(), ("nodes", 1, "parent_id"), "x"), "missing parent"),
    ("basemode duplicate id", _set(basemode(), ("nodes", 1, "id"), "r"), "duplicate node id"),
    ("bonsai missing parent", _set(bonsai(), ("nodes", 1, "parentIds"), ["x"]), "missing parent"),
    (
        "bonsai missing second parent",
        _set(bonsai(), ("nodes", 1, "parentIds"), ["r", "gone"]),
        "missing parent",
    ),
    ("bonsai cycle", _set(bonsai(), ("nodes", 0, "parentIds"), ["c"]), "cycle"),
    ("bonsai wrong type", _set(bonsai(), ("nodes", 1, "parentIds"), "r"), "not a list"),
    (
        "mikupad-db session not an object",
        _set(mikupad_db(), ("Sessions", 0, "value"), 3),
        "not an object",
    ),
    (
        "mikupad-db prompt not chunks",
        _set(mikupad_db(), ("Sessions", 0, "value", "prompt"), "hello"),
        "prompt is not a list",
    ),
    ("loom node wrong type", _set(loom_node(), ("children", 0, "text"), 5), "text is not a string"),
    ("loom list wrong type", _set(loom_list(), (0, "children"), 5), "children is not a list"),
]

BAD_LINES: list[tuple[str, bytes, str]] = [
    (
        "jsonl missing parent",
        b'{"id": "a", "text": "A"}\n{"id": "b", "text": "b", "parent_id": "z"}\n',
        "missing parent",
    ),
    ("jsonl not json", b'{"id": "a", "text": "A"}\n{"id": "b", "text": \n', "line 2"),
    (
        "jsonl cycle",
        b'{"id": "a", "text": "A"}\n{"id": "b", "parent_id": "c"}\n{"id": "c", "parent_id": "b"}\n',
        "cycle",
    ),
    (
        "jsonl wrong type",
        b'{"id": "a", "text": "A"}\n{"id": "b", "text": 5, "parent_id": "a"}\n',
        "text is not a string",
    ),
]


@pytest.mark.parametrize(("name", "data", "said"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_file_is_one_line_and_exit_2(
    name: str, data: Any, said: str, tmp_path: Path, capsys
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    _check_refused(path, said, capsys)


@pytest.mark.parametrize(("name", "raw", "said"), BAD_LINES, ids=[b[0] for b in BAD_LINES])
def test_a_bad_jsonl_file_is_one_line_and_exit_2(
    name: str, raw: bytes, said: str, tmp_path: Path, capsys
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(raw)
    _check_refused(path, said, capsys)


def _check_refused(path: Path, said: str, capsys) -> None:
    before = path.read_bytes()
    for argv in (["info", str(path)], ["import", str(path)], ["export", str(path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("loomtui: "), err
        assert said in err and "Traceback" not in err, err
    assert path.read_bytes() == before  # never written
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # nothing beside it


@pytest.mark.parametrize("name", list(VALID))
def test_each_valid_sample_imports(name: str) -> None:
    session = import_foreign(VALID[name](), "ok.json")
    assert session is not None and session.branch_text(session.current_id)


def test_every_new_format_has_a_valid_and_a_bad_sample() -> None:
    names = {f.name for f in FORMATS}
    assert set(VALID) <= names
    covered = {b[0].split()[0] for b in BAD}
    assert {
        "exoloom",
        "miniloom",
        "tinyloom",
        "wool",
        "basemode",
        "bonsai",
        "mikupad-db",
    } <= covered


# --------------------------------------------------------------------------- fuzz
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out.extend(_paths(value, (*prefix, i)))
    return out


def _mutate(data: Any, draw: Any) -> Any:
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        if not paths:
            return data
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "copy"]))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        if action == "delete":
            del parent[path[-1]]
        elif action == "copy":  # another node's value here: duplicates, cycles, wrong links
            other = draw(st.sampled_from(paths))
            source = data
            try:
                for key in other:
                    source = source[key]
            except (KeyError, IndexError, TypeError):
                continue
            parent[path[-1]] = copy.deepcopy(source)
        else:
            parent[path[-1]] = draw(_JSON)
    return data


def _outcome(run: Any) -> None:
    try:
        session = run()
    except SessionFileError:
        return
    if session is not None:
        try:
            dumps_session(session)  # what was built can be saved
        except SessionFileError:
            pass


@pytest.mark.parametrize("name", list(VALID))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_files_give_only_session_file_errors(name: str, data: st.DataObject) -> None:
    mutated = _mutate(VALID[name](), data.draw)
    _outcome(lambda: import_foreign(copy.deepcopy(mutated), "fuzz.json"))
    _outcome(lambda: import_foreign(copy.deepcopy(mutated), "fuzz.json", name))


@settings(max_examples=120, deadline=None)
@given(
    lines=st.lists(
        st.fixed_dictionaries(
            {"id": st.one_of(st.sampled_from(["a", "b", "c"]), _JSON)},
            optional={
                "text": _JSON,
                "parent_id": st.one_of(st.sampled_from(["a", "b", "c"]), _JSON),
            },
        ),
        min_size=2,
        max_size=5,
    ),
    junk=st.binary(max_size=8),
)
def test_fuzzed_jsonl_gives_only_session_file_errors(
    lines: list[dict[str, Any]], junk: bytes
) -> None:
    raw = "\n".join(json.dumps(line) for line in lines).encode() + b"\n"
    _outcome(lambda: import_raw(raw, "fuzz.jsonl"))
    _outcome(lambda: import_raw(raw + junk, "fuzz.jsonl"))


# --------------------------------------------------------------------------- key canary
CANARY = "CANARY-7f3a9"


def _secret_files() -> dict[str, Any]:
    """Files of each format with a key or endpoint wherever such tools keep or might keep one."""
    secret = {"apiKey": f"sk-{CANARY}-key", "endpoint": f"https://user:{CANARY}@host/v1"}
    files: dict[str, Any] = {}
    db = mikupad_db()
    db["Sessions"][0]["value"].update(
        {
            "endpointAPIKey": f"sk-{CANARY}",
            "endpoint": f"http://{CANARY}:8080",
            "endpointModel": "m",
        }
    )
    files["mikupad-db"] = db
    files["mikupad"] = {
        "name": json.dumps("s"),
        "prompt": json.dumps([{"type": "user", "content": "Hi"}]),
        "endpointAPIKey": json.dumps(f"sk-{CANARY}"),
        "endpoint": json.dumps(f"http://{CANARY}"),
    }
    files["obsidian"] = {
        "settings": {"modelPresets": [{"apiKey": f"sk-{CANARY}", "url": f"http://{CANARY}"}]},
        "state": {"n.md": {"current": "a", "nodes": {"a": {"text": "Start", "parentId": None}}}},
    }
    b = bonsai()
    b["nodes"][1]["generationSettings"] = dict(secret)
    b["settings"] = dict(secret)
    files["bonsai"] = b
    e = exoloom()
    e["settings"] = dict(secret)
    e["tree"]["nodes"]["2"]["generationSettings"] = dict(secret)
    files["exoloom"] = e
    m = miniloom()
    m["settings"] = dict(secret)
    m["loomTree"]["nodeStore"]["3"]["apiKey"] = secret["apiKey"]
    files["miniloom"] = m
    base = basemode()
    base["nodes"][1]["metadata"].update(
        {"api_key": secret["apiKey"], "base_url": secret["endpoint"]}
    )
    files["basemode"] = base
    w = wool()
    w["nodes"]["b"]["settings"] = dict(secret)
    files["wool"] = w
    t = tinyloom()
    t["nodes"]["c"]["api_key"] = secret["apiKey"]
    files["tinyloom"] = t
    files["loom"] = {"text": "A", "children": [], "generation_settings": dict(secret)}
    return files


@pytest.mark.parametrize("name", list(_secret_files()))
def test_keys_and_endpoints_never_leave_the_file(name: str, tmp_path: Path, capsysbinary) -> None:
    src = tmp_path / f"{name}.json"
    src.write_text(json.dumps(_secret_files()[name]))
    out = tmp_path / "out"
    out.mkdir()
    session = out / "s.loomtui.json"
    runs = [
        ["import", str(src), "-o", str(session)],
        ["info", str(src)],
        ["info", str(src), "--json"],
        ["export", str(src), "--all", "--format", "jsonl"],
        ["export", str(src), "--all", "--format", "markdown"],
        ["export", str(src), "--format", "loom", "-o", str(out / "t.loom")],
        ["export", str(src), "--format", "obsidian", "-o", str(out / "t.obsidian")],
        ["export", str(session), "--format", "loom"],
    ]
    for argv in runs:
        assert main(argv) == 0, argv
        printed = capsysbinary.readouterr()
        assert CANARY.encode() not in printed.out + printed.err, argv
    written = list(out.iterdir())
    assert len(written) == 3
    for path in written:
        assert CANARY.encode() not in path.read_bytes(), path.name
    # The text itself came through.
    imported = load_session(session)
    assert imported.branch_text(imported.current_id)
