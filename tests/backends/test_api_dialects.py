"""The logprob dialects servers speak, parsed into honest tokens (no network)."""

from __future__ import annotations

import json
import math

import pytest

from loomtui.backends.openai.dialects import (
    ByteResolver,
    parse_choice_logprobs,
    parse_content,
    parse_legacy,
    split_span,
    token_bytes,
)
from loomtui.core.display import visible_token
from loomtui.core.tokens import join_bytes


def settle(raw, text):
    r = ByteResolver()
    return r.feed(raw, text) + r.finish()


def test_openai_bytes_spelling_gives_true_bytes_and_text_decodes():
    # "é" is c3 a9; "€" is e2 82 ac, split by OpenAI over two tokens.
    lp = {
        "tokens": ["caf", "bytes:\\xe2\\x82", "bytes:\\xac", "!"],
        "token_logprobs": [-0.5, -1.0, -0.01, -2.0],
        "top_logprobs": [
            {"caf": -0.5, "cafe": -1.5},
            {"bytes:\\xe2\\x82": -1.0, " ": -1.2},
            {"bytes:\\xac": -0.01},
            {"!": -2.0, ".": -0.3},
        ],
        "text_offset": [0, 3, 3, 4],
    }
    tokens = settle(parse_legacy(lp, k=5), "caf€!")
    assert join_bytes(tokens).decode("utf-8") == "caf€!"
    assert tokens[1].bytes == b"\xe2\x82"
    assert tokens[1].top[0].bytes == b"\xe2\x82"
    # An unfinished byte run is shown visibly, not as a blank or a '?'.
    assert visible_token(tokens[1].text, tokens[1].bytes) == "‹e2 82›"
    # The top list is ordered most likely first, whatever the dict order was.
    assert [a.text for a in tokens[3].top] == [".", "!"]


def test_openai_k_plus_one_entry_is_dropped_from_the_top_list():
    # Asked for k=2; OpenAI added the sampled token " zebra" as a third entry.
    lp = {
        "tokens": [" zebra"],
        "token_logprobs": [-6.0],
        "top_logprobs": [{" the": -0.5, " a": -1.2, " zebra": -6.0}],
    }
    (tok,) = settle(parse_legacy(lp, k=2), " zebra")
    assert [a.text for a in tok.top] == [" the", " a"]
    assert tok.logprob == -6.0  # the token keeps its own number
    assert tok.rank() is None  # honestly: not in the top 2


def test_vllm_replacement_char_tokens_recover_bytes_from_the_text():
    # vLLM sends partial tokens as U+FFFD; its text holds the decoded characters.
    choice = {
        "index": 0,
        "text": "hi 😀!",
        "logprobs": {
            "tokens": ["hi", " ", "\ufffd", "\ufffd", "!"],
            "token_logprobs": [-0.1, -0.2, -3.0, -0.01, -1.0],
            "top_logprobs": [
                {"hi": -0.1},
                {" ": -0.2},
                {"\ufffd": -3.0},
                {"\ufffd": -0.01},
                {"!": -1.0},
            ],
            "text_offset": [0, 2, 3, 3, 4],
        },
    }
    tokens = settle(parse_choice_logprobs(choice, k=5), choice["text"])
    assert join_bytes(tokens).decode("utf-8") == "hi 😀!"
    assert all(t.bytes != "\ufffd".encode() for t in tokens)
    assert [t.logprob for t in tokens] == [-0.1, -0.2, -3.0, -0.01, -1.0]


def test_a_real_replacement_character_stays_one():
    choice = {
        "text": "a\ufffdb",
        "logprobs": {
            "tokens": ["a", "\ufffd", "b"],
            "token_logprobs": [-1, -1, -1],
            "top_logprobs": None,
        },
    }
    tokens = settle(parse_choice_logprobs(choice, k=5), choice["text"])
    assert join_bytes(tokens) == "a\ufffdb".encode()


def test_empty_string_tokens_llama_cpp_python_style():
    # llama-cpp-python decodes each token with errors="ignore": partial tokens become "".
    lp = {
        "tokens": ["x", "", "", "y"],
        "token_logprobs": [-1, -2, -3, -4],
        "top_logprobs": [{"x": -1}, {"": -2}, {"": -3}, {"y": -4}],
    }
    tokens = settle(parse_legacy(lp, k=5), "x中y")
    assert join_bytes(tokens).decode() == "x中y"
    assert tokens[1].bytes + tokens[2].bytes == "中".encode()


def test_deepseek_escaped_text_with_bytes_field_and_chat_sentinel():
    content = [
        {
            "token": "\\xf0\\x9f\\x8c",
            "logprob": -0.5,
            "bytes": [240, 159, 140],
            "top_logprobs": [
                {"token": "\\xf0\\x9f\\x8c", "logprob": -0.5, "bytes": [240, 159, 140]},
                {"token": "x", "logprob": -9999.0, "bytes": [120]},
            ],
        },
        {"token": "\\x8d", "logprob": -9999.0, "bytes": [141], "top_logprobs": []},
    ]
    tokens = settle(parse_content(content, k=20), None)
    assert join_bytes(tokens) == "🌍".encode()
    assert [a.bytes for a in tokens[0].top] == [b"\xf0\x9f\x8c"]  # sentinel entry dropped
    assert tokens[1].logprob is None  # -9999 means "outside the top 20", not a number


def test_llama_server_content_shape_on_completions_keeps_ids():
    choice = {
        "text": " cat",
        "logprobs": {
            "content": [
                {
                    "id": 8415,
                    "token": " cat",
                    "bytes": [32, 99, 97, 116],
                    "logprob": -1.25,
                    "top_logprobs": [
                        {"id": 8415, "token": " cat", "bytes": [32, 99, 97, 116], "logprob": -1.25},
                        {"id": 5, "token": " dog", "logprob": -1.5},
                    ],
                }
            ]
        },
    }
    (tok,) = settle(parse_choice_logprobs(choice, k=20), choice["text"])
    assert tok.token_id == 8415 and tok.rank() == 1
    assert tok.entropy is None and tok.dist == "raw"


def test_fireworks_token_ids_are_used():
    choice = {
        "text": "ab",
        "token_ids": [10, 11],
        "logprobs": {"tokens": ["a", "b"], "token_logprobs": [-1, -2], "top_logprobs": None},
    }
    tokens = settle(parse_choice_logprobs(choice, k=5), "ab")
    assert [t.token_id for t in tokens] == [10, 11]


def test_missing_logprobs_is_none():
    assert parse_choice_logprobs({"text": "hi", "logprobs": None}, k=5) is None


def test_real_legacy_echo_response(shared_fixtures):
    data = json.loads(
        (shared_fixtures / "api" / "legacy_completions_echo_response.json").read_text()
    )
    for choice in data["choices"]:
        tokens = settle(parse_choice_logprobs(choice, k=5), choice["text"])
        assert join_bytes(tokens).decode() == choice["text"]
        assert tokens[0].logprob is None  # the first token has no prefix to score it
        assert tokens[1].logprob == pytest.approx(-12.956981)
        assert all(t.token_id is None and t.top == () for t in tokens)


def test_stream_resolution_waits_for_the_closing_token():
    r = ByteResolver()
    first = r.feed(parse_legacy({"tokens": ["\ufffd"], "token_logprobs": [-1]}, 5), "")
    assert first == []  # held back: its bytes are not known yet
    out = r.feed(parse_legacy({"tokens": ["\ufffd", "b"], "token_logprobs": [-1, -1]}, 5), "éb")
    assert join_bytes(out) == "éb".encode() and len(out) == 3


@pytest.mark.parametrize(
    ("text", "raw", "expected", "certain"),
    [
        ("bytes:\\xe2\\x80", None, b"\xe2\x80", True),
        ("\\xe2", None, b"\xe2", True),
        ("\ufffd", [239, 191, 189], b"\xef\xbf\xbd", False),
        ("", None, b"", False),
        ("é", [195, 169], b"\xc3\xa9", True),
        ("\\x41 is A", None, b"\\x41 is A", True),
    ],
)
def test_token_bytes_spellings(text, raw, expected, certain):
    assert token_bytes(text, raw) == (expected, certain)


def test_split_span_joins_exactly():
    for n in range(1, 6):
        parts = split_span("😀".encode(), n)
        assert len(parts) == n and b"".join(parts) == "😀".encode()


def test_logprobs_are_finite_numbers():
    lp = {"tokens": ["a"], "token_logprobs": [float("nan")], "top_logprobs": [{"a": -1}]}
    (tok,) = settle(parse_legacy(lp, 5), "a")
    assert tok.logprob is None and math.isfinite(tok.top[0].logprob)


def test_llama_cpp_python_offsets_group_partial_tokens_by_character():
    # Exactly what llama-cpp-python returned for "Smiley emoji: 😀😀😀 Heart emoji:" at
    # temperature 0 (non-streamed): every partial token is "", the text is whole.
    text = " \U0001f44c\U0001f44c\U0001f44c"
    lp = {
        "tokens": [" ", "", "", "", "", "", "", "", ""],
        "token_logprobs": [-1.0] * 9,
        "top_logprobs": [{" ": -1.0}] + [{"": -1.0}] * 8,
        "text_offset": [30, 31, 31, 32, 32, 32, 33, 33, 33],
    }
    tokens = settle(parse_legacy(lp, k=3), text)
    assert join_bytes(tokens).decode() == text
    emoji = "\U0001f44c".encode()
    # Tokens 1-2 make the first emoji, 3-5 the second, 6-8 the third.
    assert tokens[1].bytes + tokens[2].bytes == emoji
    assert b"".join(t.bytes for t in tokens[3:6]) == emoji
    assert b"".join(t.bytes for t in tokens[6:9]) == emoji
    assert visible_token(tokens[1].text, tokens[1].bytes).startswith("‹f0")
