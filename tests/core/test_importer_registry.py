"""The importer registry: each format is found from its content, in the documented order,
and the session loader goes through the registry (which never imports the loader)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest

from loomtui.core.errors import SessionFileError
from loomtui.core.importers import FORMATS, Format, detect_format, refuse_binary, registry
from loomtui.core.sessionfile import loads_session
from loomtui.core.tree import Session


def _mikupad(props: dict[str, Any]) -> dict[str, str]:
    return {key: json.dumps(value) for key, value in props.items()}


#: One small real-shaped file per registered format, in the registry's order.
SAMPLES: dict[str, Any] = {
    "socketteer/loom": {
        "root": {"id": "r", "text": "Once", "children": [{"id": "c", "text": " upon"}]},
        "selected_node_id": "c",
    },
    "logitloom": {
        "isLogitLoomTreeVersion": "logit-loom-tree-v1",
        "modelSettings": {"prompt": "The sky is"},
        "roots": [{"id": "1", "text": " blue", "logprob": -0.2, "children": []}],
    },
    "exoloom": {
        "loomType": "Exoloom",
        "schemaVersion": 1,
        "tree": {
            "rootNodeId": 1,
            "nodes": {
                "1": {"content": "Ex", "authorType": "USER", "parentId": None, "childrenIds": [2]},
                "2": {"content": "o", "authorType": "LLM", "parentId": 1, "childrenIds": []},
            },
        },
        "lens": {"bookmarks": [], "prunedNodes": []},
    },
    "miniloom": {
        "loomTree": {
            "nodeStore": {
                "1": {"id": "1", "type": "root", "patch": "", "parent": None, "children": ["2"]},
                "2": {
                    "id": "2",
                    "type": "user",
                    "parent": "1",
                    "children": [],
                    "patch": [
                        {
                            "diffs": [[1, "Mini"]],
                            "start1": 0,
                            "start2": 0,
                            "length1": 0,
                            "length2": 4,
                        }
                    ],
                },
            }
        },
        "focus": {"id": "2"},
    },
    "mikupad-db": {
        "Sessions": [
            {"key": 0, "value": {"prompt": [{"type": "user", "content": "Miku"}]}},
            {"key": "selectedSessionId", "value": 0},
        ],
        "Names": [{"key": 0, "value": "first"}],
    },
    "obsidian-loom": {
        "settings": {},
        "state": {"n.md": {"current": "a", "nodes": {"a": {"text": "Start", "parentId": None}}}},
    },
    "wool": {
        "nodes": {
            "a": {"id": "a", "parent_id": None, "type": "ai", "text": "Wo"},
            "b": {"id": "b", "parent_id": "a", "type": "ai", "text": "ol"},
        },
        "focused_node_id": "b",
    },
    "tinyloom": {
        "root": 1,
        "nodes": {
            "1": {"id": 1, "parent": None, "type": "root", "patches": None, "children": [2]},
            "2": {"id": 2, "parent": 1, "type": "m", "patches": [{"diffs": [[1, "Tiny"]]}]},
        },
    },
    "basemode-loom": {
        "version": 1,
        "nodes": [
            {"id": "r", "parent_id": None, "root_id": "r", "text": "Base"},
            {"id": "c", "parent_id": "r", "root_id": "r", "text": "mode"},
        ],
    },
    "bonsai": {
        "nodes": [
            {"id": "r", "text": "Bon", "childrenIds": ["c"], "parentIds": []},
            {"id": "c", "text": "sai", "childrenIds": [], "parentIds": ["r"]},
        ],
        "edges": [{"from": "r", "to": "c", "relation": "parentId"}],
        "pathNodes": ["r", "c"],
        "focusedId": "c",
    },
    "mikupad": _mikupad(
        {
            "name": "s",
            "endpointAPI": 0,
            "prompt": [{"type": "user", "content": "Hi"}, {"content": " there", "prob": 0.5}],
        }
    ),
    "socketteer/loom-node": {"text": "Simple", "children": [{"text": " tree", "children": []}]},
    "socketteer/loom-list": [{"text": "Bare", "children": [{"text": " list"}]}],
}

#: The text each sample's current branch spells once imported.
TEXTS = {
    "socketteer/loom": "Once upon",
    "logitloom": "The sky is",
    "exoloom": "Exo",
    "miniloom": "Mini",
    "mikupad-db": "Miku",
    "obsidian-loom": "Start",
    "wool": "Wool",
    "tinyloom": "Tiny",
    "basemode-loom": "Basemode",
    "bonsai": "Bonsai",
    "mikupad": "Hi there",
    "socketteer/loom-node": "Simple tree",
    "socketteer/loom-list": "Bare",
}


def test_every_registered_format_has_a_sample_and_is_detected_from_its_content() -> None:
    assert [f.name for f in FORMATS] == list(SAMPLES)
    for fmt in FORMATS:
        data = SAMPLES[fmt.name]
        assert detect_format(data) is fmt, fmt.name
        # No format listed before it claims the sample: the order cannot shadow it.
        earlier = FORMATS[: FORMATS.index(fmt)]
        assert not any(e.detect(data) for e in earlier), fmt.name


@pytest.mark.parametrize("name", list(SAMPLES))
def test_detection_ignores_the_file_name(name: str) -> None:
    raw = json.dumps(SAMPLES[name]).encode()
    for source in ("x.ll.json", "data.json", "MikuPad.json", "tree.json", "noname"):
        session = loads_session(raw, source)
        assert session.branch_text(session.current_id) == TEXTS[name], source


def test_the_documented_order_is_the_registry_order() -> None:
    documented = re.findall(r"^\d+\. ``([^`]+)``", registry.__doc__ or "", re.MULTILINE)
    assert documented == [f.name for f in FORMATS]


def test_unknown_shapes_are_no_format() -> None:
    for data in ({}, [], {"prompt": 3}, {"root": "x"}, {"nodes": []}, "text", 5, None):
        assert detect_format(data) is None
    with pytest.raises(SessionFileError, match="not a loomtui session or a known loom file"):
        loads_session(b'{"hello": "world"}', "h.json")


def test_the_loader_dispatches_through_the_registry(monkeypatch) -> None:
    def load_toy(data: Any, source: str) -> Session:
        session = Session.new()
        session.root.plain = data["toy"]
        return session

    toy = Format("toy", lambda d: isinstance(d, dict) and "toy" in d, load_toy)
    monkeypatch.setattr(registry, "FORMATS", (*FORMATS, toy))
    session = loads_session(b'{"toy": "from the registry"}', "toy.json")
    assert session.branch_text(session.current_id) == "from the registry"


def test_a_broken_tree_from_an_importer_is_refused(monkeypatch) -> None:
    def load_bad(data: Any, source: str) -> Session:
        session = Session.new()
        session.current_id = "nowhere"
        return session

    bad = Format("bad", lambda d: isinstance(d, dict) and "bad" in d, load_bad)
    monkeypatch.setattr(registry, "FORMATS", (bad, *FORMATS))
    with pytest.raises(SessionFileError, match="current node 'nowhere' is not a node"):
        loads_session(b'{"bad": 1}', "bad.json")


def test_tapestry_weaves_are_refused_before_parsing() -> None:
    raw = b"VersionedTapestryWeave__\x00\x01binary"
    with pytest.raises(SessionFileError, match="Tapestry-Loom"):
        refuse_binary(raw, "w.tapestry")
    with pytest.raises(SessionFileError, match="Tapestry-Loom"):
        loads_session(raw, "w.tapestry")
    refuse_binary(b'{"root": {}}', "fine.json")  # anything else passes


def test_the_importers_never_import_the_session_loader() -> None:
    code = (
        "import sys, loomtui.core.importers\n"
        "assert 'loomtui.core.sessionfile' not in sys.modules, 'importers import sessionfile'\n"
        "assert 'loomtui.core.sessionread' not in sys.modules, 'importers import sessionread'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
