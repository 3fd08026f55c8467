"""Importing mikupad (lmg-anon/mikupad) session exports.

The exports here are built exactly as mikupad's ``exportSession`` writes them: the session's
properties, each value ``JSON.stringify``-ed, in one compact JSON object. ``prompt`` holds the
chunks: ``{"type": "user", "content"}`` for a person's text, and for each model token
``{"content", "prob", "completion_probabilities": [{"content", "probs": [{"tok_str",
"prob"}]}]}`` (mikupad.html, ``Sessions.exportSession``, ``llamaCppCompletion``).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loomtui.cli import main
from loomtui.core.errors import SessionFileError
from loomtui.core.export import branch_nodes, export_jsonl, export_markdown, export_text
from loomtui.core.importers import import_foreign
from loomtui.core.importers.mikupad import is_mikupad
from loomtui.core.sessionfile import dumps_session, load_session, loads_session
from loomtui.core.store import IMPORTED_SUFFIX, SessionStore, work_path_for

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-mikuSECRETkey-0123456789abcdef"
URL_PASSWORD = "hunter2-url-password"


def _js(value: Any) -> str:
    """``JSON.stringify``: compact, non-ASCII kept as it is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _export(props: dict[str, Any]) -> bytes:
    """What mikupad's Export button writes for a session with these properties."""
    return _js({key: _js(value) for key, value in props.items()}).encode("utf-8")


def _model(content: str, probs: list[tuple[str, float]], prob: float | None = None) -> dict:
    """A model chunk as mikupad's llamaCppCompletion yields it (and setPromptChunks stores)."""
    found = next((p for t, p in probs if t == content), None) if prob is None else prob
    return {
        "content": content,
        "prob": found if found is not None else -1,
        "completion_probabilities": [
            {"content": content, "probs": [{"tok_str": t, "prob": p} for t, p in probs]}
        ],
    }


CHUNKS: list[dict[str, Any]] = [
    {"type": "user", "content": "[INST] Write about Miku 🎤 and "},
    {"type": "user", "content": "[bold]Rin[/bold] \x1b[31mred\x1b[0m\x07\r\n[/INST]"},
    _model(" Miku", [(" Miku", 0.62), (" Hatsune", 0.25), (" The", 0.0), (" She", 0.1)]),
    _model(" sings", [(" sang", 0.4), (" sings", 0.35), (" was", 0.2)]),
    _model(" 🎶", [(" 🎶", 0.9), (" ♪", 0.05)]),
    # The chosen token is not among the alternatives (switchCompletion / stopping word).
    _model("!", [(".", 0.7), (",", 0.2)]),
    # AI Horde (and servers without logprobs) give chunks without probabilities.
    {"content": " Ñandú"},
    {"type": "user", "content": "</s>[INST]"},
    {"type": "user", "content": " more [red]please[/red] ☃"},
    _model(" Okay", [(" Okay", 1.0)]),
]


def _props(chunks: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """A whole session as mikupad keeps it (defaultPresets plus what the user changed)."""
    props: dict[str, Any] = {
        "name": "MikuPad #7 ✨",
        "endpoint": f"https://miku:{URL_PASSWORD}@llm.example.com:8080",
        "endpointAPI": 0,
        "endpointAPIKey": KEY,
        "endpointModel": "llama-3-8b-instruct",
        "prompt": CHUNKS if chunks is None else chunks,
        "seed": -1,
        "maxPredictTokens": -1,
        "temperature": 0.7,
        "dynaTempRange": 0,
        "repeatPenalty": 1.1,
        "repeatLastN": 256,
        "penalizeNl": False,
        "topK": 40,
        "topP": 0.95,
        "minP": 0,
        "tfsZ": 1,
        "mirostat": 0,
        "mirostatTau": 5.0,
        "mirostatEta": 0.1,
        "drySequenceBreakers": '["\\n", ":", "\\"", "*"]',
        "bannedTokens": "[]",
        "stoppingStrings": "[]",
        "contextLength": 8192,
        "memoryTokens": {
            "contextOrder": "{memPrefix}{wiPrefix}{wiText}{wiSuffix}{memText}{memSuffix}{prompt}",
            "prefix": "",
            "text": "",
            "suffix": "",
        },
        "worldInfo": {"mikuPediaVersion": 1, "entries": [], "prefix": "", "suffix": ""},
        "logitBias": {"bias": {}, "model": "none"},
        "enabledSamplers": ["temperature", "top_k", "top_p", "min_p"],
        "template": "Mistral",
        "chatMode": True,
        "tokenStreaming": True,
        "scrollTop": 0,
    }
    props.update(extra)
    return props


def _text(chunks: list[dict[str, Any]]) -> bytes:
    return "".join(c["content"] for c in chunks).encode("utf-8", "surrogatepass")


@pytest.fixture
def mikupad_file(tmp_path: Path) -> Path:
    path = tmp_path / "MikuPad #7.json"
    path.write_bytes(_export(_props()))
    return path


def _load(raw: bytes):
    return loads_session(raw, "MikuPad.json")


# --------------------------------------------------------------------------- detection
def test_the_export_is_detected_and_other_formats_are_not() -> None:
    assert is_mikupad(json.loads(_export(_props())))
    # A localStorage-era file: just the properties, no name.
    assert is_mikupad({"prompt": _js([{"type": "user", "content": "hi"}])})
    others: list[Any] = [
        {"root": {"text": "x", "children": []}},
        {"isLogitLoomTreeVersion": "logit-loom-tree-v1", "roots": []},
        {"state": {"n": {"nodes": {"a": {"text": "x", "parentId": None}}}}},
        {"hello": "world"},
        {"prompt": "Once upon a time"},  # a plain prompt string, nothing of mikupad's
        {"prompt": "[1]", "settings": {"x": 1}},  # an object value: not mikupad's encoding
        {"prompt": [{"type": "user", "content": "hi"}], "endpointAPI": "0"},  # not encoded
        ["prompt"],
        "prompt",
    ]
    for data in others:
        assert not is_mikupad(data), data
    s = _load(_export(_props()))
    assert s.meta["imported_from"] == "lmg-anon/mikupad"


# --------------------------------------------------------------------------- text and structure
def test_text_is_the_chunks_joined_byte_exact(mikupad_file: Path, capsysbinary) -> None:
    s = load_session(mikupad_file)
    want = _text(CHUNKS)
    assert export_text(s, branch_nodes(s)) == want
    assert s.branch_bytes(s.current_id) == want
    assert main(["export", str(mikupad_file)]) == 0
    assert capsysbinary.readouterr().out == want
    record = json.loads(export_jsonl(s, branch_nodes(s)))
    assert record["text"] == want.decode("utf-8")


def test_chunks_become_one_chain_of_merged_runs() -> None:
    s = _load(_export(_props()))
    path = s.path(s.current_id)
    assert s.current.children == [] and len(s.leaves()) == 1
    assert [n.origin for n in path] == ["prompt", "prompt", "model", "prompt", "model"]
    root, user1, model1, user2, model2 = path
    assert root.text == "" and root.label == "MikuPad #7 ✨"
    assert user1.plain == CHUNKS[0]["content"] + CHUNKS[1]["content"]
    assert user1.tokens is None and user2.plain == "</s>[INST] more [red]please[/red] ☃"
    assert [t.text for t in model1.tokens] == [" Miku", " sings", " 🎶", "!", " Ñandú"]
    assert [t.bytes for t in model1.tokens] == [c["content"].encode() for c in CHUNKS[2:7]]
    assert [t.text for t in model2.tokens] == [" Okay"]
    assert model1.model == model2.model == "llama-3-8b-instruct"
    assert all(t.token_id is None for n in (model1, model2) for t in n.tokens)


def test_logprobs_are_natural_logs_of_the_probabilities() -> None:
    s = _load(_export(_props()))
    model1 = s.path(s.current_id)[2]
    miku, sings, note, bang, nandu = model1.tokens
    assert miku.logprob == pytest.approx(math.log(0.62), abs=1e-9)
    assert sings.logprob == pytest.approx(math.log(0.35), abs=1e-9)
    assert note.logprob == pytest.approx(math.log(0.9), abs=1e-9)
    assert bang.logprob is None  # mikupad's prob -1: not found among the alternatives
    assert nandu.logprob is None and list(nandu.top) == []
    # Alternatives: most likely first, probability 0 dropped, ln(prob) each.
    assert [a.text for a in miku.top] == [" Miku", " Hatsune", " She"]
    for alt, p in zip(miku.top, (0.62, 0.25, 0.1), strict=True):
        assert alt.logprob == pytest.approx(math.log(p), abs=1e-9)
        assert alt.bytes == alt.text.encode() and alt.token_id is None
    assert [a.text for a in sings.top] == [" sang", " sings", " was"]
    assert sings.rank() == 2 and miku.rank() == 1 and bang.rank() is None
    assert [a.text for a in bang.top] == [".", ","]
    okay = s.current.tokens[0]
    assert okay.logprob == 0.0 and okay.top[0].logprob == 0.0


def test_session_meta_keeps_harmless_settings_only() -> None:
    s = _load(_export(_props()))
    info = s.meta["mikupad"]
    assert info["name"] == "MikuPad #7 ✨" and info["model"] == "llama-3-8b-instruct"
    assert info["api"] == "llama.cpp" and info["template"] == "Mistral"
    assert info["chat_mode"] is True
    sampling = info["sampling"]
    assert sampling["temperature"] == 0.7 and sampling["topK"] == 40
    assert sampling["penalizeNl"] is False and sampling["seed"] == -1
    flat = json.dumps(s.meta).lower()
    for word in ("apikey", "endpoint", "authorization", "password", "secret", "http"):
        assert word not in flat


def test_saved_and_reloaded_nothing_changes() -> None:
    s = _load(_export(_props()))
    raw = dumps_session(s)
    again = loads_session(raw)
    assert dumps_session(again) == raw
    assert again.branch_bytes(again.current_id) == _text(CHUNKS)


# --------------------------------------------------------------------------- secrets
def test_the_api_key_and_endpoint_never_reach_the_session(mikupad_file: Path, capsys) -> None:
    s = load_session(mikupad_file)
    saved = dumps_session(s)
    nodes = branch_nodes(s, all_leaves=True)
    outputs = [
        saved,
        export_text(s, nodes),
        export_markdown(s, nodes).encode(),
        export_jsonl(s, nodes).encode(),
    ]
    for out in outputs:
        assert KEY.encode() not in out
        assert URL_PASSWORD.encode() not in out
        assert b"llm.example.com" not in out
    for verb in (["show", "--no-color"], ["show"], ["info"], ["export", "--format", "markdown"]):
        assert main([verb[0], str(mikupad_file), *verb[1:]]) == 0
        out, err = capsys.readouterr()
        assert KEY not in out + err and URL_PASSWORD not in out + err


def test_a_broken_key_value_is_not_even_read() -> None:
    # Only the properties loomtui uses are decoded: an unreadable key does not matter.
    raw = json.loads(_export(_props()))
    raw["endpointAPIKey"] = '"' + KEY  # not valid JSON any more
    s = _load(json.dumps(raw).encode())
    assert KEY.encode() not in dumps_session(s)


# --------------------------------------------------------------------------- older versions
def test_older_and_raw_llama_cpp_chunk_shapes() -> None:
    chunks = [
        {"type": "user", "content": "Q:"},
        # mikupad before June 2024: llama.cpp's stream chunk stored as it came, no "prob".
        {
            "content": " A",
            "stop": False,
            "slot_id": 0,
            "multimodal": False,
            "completion_probabilities": [
                {
                    "content": " A",
                    "probs": [{"tok_str": " B", "prob": 0.6}, {"tok_str": " A", "prob": 0.3}],
                }
            ],
        },
        # June 2024: "prob" -1000 (or 0) when it was not found: look it up instead.
        {
            "content": " C",
            "prob": -1000,
            "completion_probabilities": [
                {"content": " C", "probs": [{"tok_str": " C", "prob": 0.25}]}
            ],
        },
        # A mikupad of that time meeting llama.cpp's newer API: its entries stored raw.
        {
            "content": " é",
            "prob": 0,
            "completion_probabilities": [
                {
                    "id": 1,
                    "token": " é",
                    "bytes": [32, 195, 169],
                    "logprob": -0.5,
                    "top_logprobs": [
                        {"id": 2, "token": " e", "bytes": [32, 101], "logprob": -1.5},
                        {"id": 1, "token": " é", "bytes": [32, 195, 169], "logprob": -0.5},
                    ],
                }
            ],
        },
        # llama.cpp's post-sampling shape {token, prob}.
        {
            "content": "!",
            "completion_probabilities": [
                {"token": "!", "prob": 0.8, "top_probs": [{"id": 0, "token": "!", "prob": 0.8}]}
            ],
        },
        # Several tokens in one stream chunk: one token each when their texts spell it.
        {
            "content": " two parts",
            "completion_probabilities": [
                {"content": " two", "probs": [{"tok_str": " two", "prob": 0.5}]},
                {"content": " parts", "probs": [{"tok_str": " parts", "prob": 0.25}]},
            ],
        },
        # Several entries that do not spell the chunk: one token, the first entry's list.
        {
            "content": "xyz",
            "prob": 0.125,
            "completion_probabilities": [
                {"content": "x", "probs": [{"tok_str": "xyz", "prob": 0.125}]},
                {"content": "q", "probs": []},
            ],
        },
        # OpenAI-style byte tokens among the alternatives.
        {
            "content": ".",
            "prob": 0.5,
            "completion_probabilities": [
                {
                    "content": ".",
                    "probs": [
                        {"tok_str": ".", "prob": 0.5},
                        {"tok_str": "bytes:\\xe2\\x80", "prob": 0.2},
                    ],
                }
            ],
        },
    ]
    s = _load(_export({"prompt": chunks}))
    assert s.branch_bytes(s.current_id) == _text(chunks)
    toks = s.current.tokens
    assert [t.text for t in toks] == [" A", " C", " é", "!", " two", " parts", "xyz", "."]
    want = [0.3, 0.25, math.exp(-0.5), 0.8, 0.5, 0.25, 0.125, 0.5]
    for tok, p in zip(toks, want, strict=True):
        assert tok.logprob == pytest.approx(math.log(p), abs=1e-9)
    assert [a.text for a in toks[0].top] == [" B", " A"]
    assert [(a.bytes, a.logprob) for a in toks[2].top] == [(b" \xc3\xa9", -0.5), (b" e", -1.5)]
    assert toks[4].top[0].text == " two" and toks[5].top[0].text == " parts"
    assert toks[7].top[1].bytes == b"\xe2\x80"
    assert s.meta == {"imported_from": "lmg-anon/mikupad", "mikupad": {}}


def test_lone_surrogates_and_empty_chunks_stay_exact() -> None:
    # JSON.stringify writes a lone surrogate as an escape; an empty chunk adds nothing.
    chunks = [
        {"type": "user", "content": "a\ud83d"},
        {"type": "user", "content": ""},
        {"content": "\ude00b", "prob": 0.5},
        {"content": ""},
        {"content": "c", "prob": 0.5},
    ]
    raw = json.dumps({k: json.dumps(v) for k, v in {"prompt": chunks, "tfsZ": 1}.items()})
    s = _load(raw.encode("ascii"))
    assert s.branch_bytes(s.current_id) == _text(chunks)
    assert [n.origin for n in s.path(s.current_id)] == ["prompt", "prompt", "model"]
    assert loads_session(dumps_session(s)).branch_bytes(s.current_id) == _text(chunks)


def test_an_empty_prompt_is_an_empty_session() -> None:
    s = _load(_export({"name": "MikuPad #1", "prompt": [], "endpointAPIKey": KEY}))
    assert s.current_id == s.root_id and s.branch_bytes(s.current_id) == b""


# --------------------------------------------------------------------------- malformed files
def _raw_with(**values: Any) -> bytes:
    """The export with some values replaced by these raw (already encoded) ones."""
    raw = json.loads(_export(_props()))
    raw.update(values)
    return json.dumps(raw).encode()


def _chunk(chunk: Any) -> bytes:
    return _export(_props([{"type": "user", "content": "x"}, chunk]))


MALFORMED: dict[str, tuple[bytes, str]] = {
    "prompt_not_json": (
        _raw_with(prompt='[{"type": "user", "content": '),
        "prompt is not valid JSON",
    ),
    "name_not_json": (_raw_with(name="MikuPad #1"), "name is not valid JSON"),
    "temperature_nan": (_raw_with(temperature="NaN"), "temperature is not valid JSON"),
    "prompt_not_list": (_raw_with(prompt='{"type": "user"}'), "prompt is not a list"),
    "prompt_string": (_raw_with(prompt='"Once upon a time"'), "prompt is not a list"),
    "prompt_null": (_raw_with(prompt="null"), "prompt is not a list"),
    "chunk_not_object": (_chunk("just text"), "chunk 1 is not an object"),
    "chunk_no_content": (_chunk({"type": "user"}), "chunk 1 has no text content"),
    "chunk_content_number": (_chunk({"content": 5, "prob": 0.5}), "chunk 1 has no text content"),
    "cp_not_list": (
        _chunk({"content": "a", "completion_probabilities": "garbage"}),
        "completion_probabilities is not a list",
    ),
    "cp_item_not_object": (
        _chunk({"content": "a", "completion_probabilities": [7]}),
        "completion_probabilities holds a non-object",
    ),
    "probs_not_list": (
        _chunk({"content": "a", "completion_probabilities": [{"content": "a", "probs": "x"}]}),
        "probs is not a list",
    ),
    "probs_item_string": (
        _chunk({"content": "a", "completion_probabilities": [{"content": "a", "probs": ["a"]}]}),
        "an alternative is not an object",
    ),
    "probs_no_tok_str": (
        _chunk(
            {"content": "a", "completion_probabilities": [{"content": "a", "probs": [{"prob": 1}]}]}
        ),
        "an alternative has no token text",
    ),
    "probs_prob_string": (
        _chunk(
            {
                "content": "a",
                "completion_probabilities": [
                    {"content": "a", "probs": [{"tok_str": "a", "prob": "0.5"}]}
                ],
            }
        ),
        "probability is not a number",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_exports_give_one_line_errors(case: str) -> None:
    raw, expect = MALFORMED[case]
    with pytest.raises(SessionFileError) as info:
        loads_session(raw, "bad.json")
    message = str(info.value)
    assert "\n" not in message and expect in message, message
    assert message.startswith("bad.json: ")
    assert KEY not in message


def test_odd_values_that_are_not_errors() -> None:
    # Probabilities 0, null, negative, above 1 or huge are dropped; logprob unknown.
    chunk = {
        "content": "a",
        "prob": 1.5,
        "completion_probabilities": [
            {
                "content": "a",
                "probs": [
                    {"tok_str": "b", "prob": 0},
                    {"tok_str": "c", "prob": None},
                    {"tok_str": "d", "prob": -0.2},
                    {"tok_str": "e", "prob": 3},
                    {"tok_str": "f", "prob": 1e308},
                    {"tok_str": "g", "logprob": -1e300},
                    {"tok_str": "h", "prob": 1e-300},
                ],
            }
        ],
    }
    s = _load(_chunk(chunk))
    tok = s.current.tokens[0]
    assert tok.logprob is None
    assert [a.text for a in tok.top] == ["h"]
    assert tok.top[0].logprob == pytest.approx(math.log(1e-300))


@pytest.mark.parametrize("case", ["prompt_not_json", "chunk_no_content", "probs_not_list"])
def test_malformed_exports_via_the_real_command(case: str, tmp_path: Path) -> None:
    raw, expect = MALFORMED[case]
    path = tmp_path / "bad.json"
    path.write_bytes(raw)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for verb in ("info", "export", "show"):
        proc = subprocess.run(
            [sys.executable, "-m", "loomtui", verb, str(path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("loomtui: ")
        assert expect in proc.stderr and "Traceback" not in proc.stderr
        assert KEY not in proc.stderr
    assert path.read_bytes() == raw


# --------------------------------------------------------------------------- the CLI
def test_show_and_export_via_the_real_command(mikupad_file: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    before = mikupad_file.read_bytes()
    shown = subprocess.run(
        [sys.executable, "-m", "loomtui", "show", str(mikupad_file), "--no-color"],
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout.decode("utf-8")
    assert "[bold]Rin[/bold]" in out and "[red]please[/red]" in out  # literal, not markup
    assert "\x1b" not in out and "\x07" not in out  # control characters shown inert
    assert "🎤" in out and "Ñandú" in out
    assert KEY not in out + shown.stderr.decode()
    coloured = subprocess.run(
        [sys.executable, "-m", "loomtui", "show", str(mikupad_file)],
        capture_output=True,
        env={**{k: v for k, v in env.items() if k != "NO_COLOR"}, "FORCE_COLOR": "1"},
        timeout=60,
    )
    assert coloured.returncode == 0, coloured.stderr
    out = coloured.stdout.decode("utf-8")
    # Markup-like text and escape sequences from the file stay literal; the tokens are coloured.
    assert "[bold]Rin[/bold] \u241b[31mred" in out and " Miku\x1b[0m" in out
    exported = subprocess.run(
        [sys.executable, "-m", "loomtui", "export", str(mikupad_file)],
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == _text(CHUNKS)
    assert mikupad_file.read_bytes() == before
    assert not list(mikupad_file.parent.glob("*" + IMPORTED_SUFFIX))  # read-only verbs


# --------------------------------------------------------------------------- where work is saved
def test_work_on_a_mikupad_file_goes_beside_it(mikupad_file: Path) -> None:
    work = mikupad_file.with_name("MikuPad #7" + IMPORTED_SUFFIX)
    assert work_path_for(mikupad_file) == work
    original = mikupad_file.read_bytes()
    store = SessionStore.open(mikupad_file)
    try:
        assert store.path == work
        store.session = load_session(mikupad_file)
        store.save()
    finally:
        store.close()
    assert mikupad_file.read_bytes() == original
    assert KEY.encode() not in work.read_bytes()
    # Once saved, the work file is what opening the mikupad file finds.
    assert work_path_for(mikupad_file) == work
    again = SessionStore.open(mikupad_file)
    try:
        assert again.path == work
        assert again.session.branch_bytes(again.session.current_id) == _text(CHUNKS)
    finally:
        again.close()
    assert mikupad_file.read_bytes() == original


def test_first_open_of_a_mikupad_file_shows_its_text(mikupad_file: Path) -> None:
    store = SessionStore.open(mikupad_file)
    try:
        assert store.session.branch_bytes(store.session.current_id) == _text(CHUNKS)
    finally:
        store.close()


# --------------------------------------------------------------------------- fuzzing
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
_chunk_keys = st.sampled_from(
    ["type", "content", "prob", "completion_probabilities", "probs", "tok_str", "token", "logprob"]
)
_chunks = st.lists(
    st.dictionaries(
        _chunk_keys, _json | st.just("user") | st.just([{"tok_str": "a", "prob": 0.5}]), max_size=4
    ),
    max_size=4,
)


@settings(max_examples=150, deadline=None)
@given(_chunks, _json)
def test_odd_mikupad_files_give_a_session_or_one_line_error(chunks, name) -> None:
    data = {"prompt": _js(chunks), "name": _js(name), "endpointAPIKey": _js(KEY)}
    try:
        s = loads_session(json.dumps(data).encode(), "odd.json")
    except SessionFileError as exc:
        assert "\n" not in str(exc) and KEY not in str(exc)
        return
    assert import_foreign(json.loads(json.dumps(data)), "odd.json") is not None
    if all(isinstance(c.get("content"), str) for c in chunks):
        assert s.branch_bytes(s.current_id) == "".join(c["content"] for c in chunks).encode(
            "utf-8", "surrogatepass"
        )
    assert KEY.encode() not in dumps_session(s)
