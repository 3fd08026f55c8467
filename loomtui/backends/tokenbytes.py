"""The true raw bytes of every token of a Hugging Face tokenizer.

``tokenizer.decode([id])`` is not the truth for a token holding part of a UTF-8 character: it
returns U+FFFD. The vocabulary itself is: byte-level BPE (GPT-2, SmolLM2, Llama 3, Qwen)
spells each byte as one printable character (GPT-2's ``bytes_to_unicode``), and SentencePiece
byte fallback spells a lone byte ``<0xE2>`` and a space ``▁``. Special tokens are their
content as UTF-8.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


@lru_cache(maxsize=1)
def unicode_to_bytes() -> dict[str, int]:
    return {c: b for b, c in bytes_to_unicode().items()}


def _component_names(tokenizer: Any) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return ""
    parts = []
    for attr in ("pre_tokenizer", "decoder", "model"):
        try:
            parts.append(repr(getattr(backend, attr)))
        except Exception:  # some components cannot be shown; they just do not count
            pass
    return " ".join(parts)


def tokenizer_kind(tokenizer: Any) -> str:
    """``"byte_level"``, ``"sentencepiece"`` or ``"other"``."""
    names = _component_names(tokenizer)
    if "ByteLevel" in names:
        return "byte_level"
    vocab = tokenizer.get_vocab()
    if "<0x00>" in vocab or "▁" in names or "Metaspace" in names:
        return "sentencepiece"
    return "other"


def token_bytes_table(tokenizer: Any, size: int) -> list[bytes]:
    """Raw bytes for every id in ``range(size)`` (ids beyond the tokenizer get b"")."""
    kind = tokenizer_kind(tokenizer)
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    added = {
        i
        for i, tok in (getattr(tokenizer, "added_tokens_decoder", {}) or {}).items()
        if getattr(tok, "special", False)
    }
    special |= added
    pieces = tokenizer.convert_ids_to_tokens(list(range(min(size, len(tokenizer)))))
    table: list[bytes] = []
    inverse = unicode_to_bytes()
    for i, piece in enumerate(pieces):
        if piece is None:
            table.append(b"")
        elif i in special:
            table.append(piece.encode("utf-8"))
        elif kind == "byte_level" and all(ch in inverse for ch in piece):
            table.append(bytes(inverse[ch] for ch in piece))
        elif kind == "sentencepiece":
            table.append(_sentencepiece_bytes(piece))
        else:
            table.append(_decoded_bytes(tokenizer, i, piece))
    table.extend(b"" for _ in range(size - len(table)))
    return table


def _sentencepiece_bytes(piece: str) -> bytes:
    if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
        try:
            return bytes([int(piece[3:5], 16)])
        except ValueError:
            pass
    return piece.replace("▁", " ").encode("utf-8")


def _decoded_bytes(tokenizer: Any, token_id: int, piece: str) -> bytes:
    """Last resort: the tokenizer's own decoding (added tokens, unusual vocabularies)."""
    try:
        text = tokenizer.decode([token_id], clean_up_tokenization_spaces=False)
    except Exception:
        text = piece
    return text.encode("utf-8", "surrogatepass")
