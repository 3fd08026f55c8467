"""diff-match-patch patches, applied the way MiniLoom and tinyloom apply them.

MiniLoom stores each node as ``patch_make(parentFullText, childFullText)``: a node's text is
its parent's text with the patches applied, never the patch's inserts concatenated (a
*rewrite* node deletes and replaces text). The patches are JavaScript objects, so their
offsets count UTF-16 code units: text is patched in that space (an emoji is two units) and
turned back into Python text afterwards.

A patch list as JSON: ``[{diffs: [[op, text], ...], start1, start2, length1, length2}]``.
``diffs`` entries may also be ``{"0": op, "1": text}``: the JavaScript library's ``Diff``
objects, once their prototype is stripped (Electron's bridge does), serialise so. A patch
list may also be diff-match-patch's text form (``@@ -1,4 +1,9 @@``).

Then :func:`rebase` turns full texts into loomtui segments: a node whose text starts with its
parent's becomes the rest; a rewrite hangs from the deepest ancestor whose text its text
still starts with (the root at worst), with its own full text exact.
"""

from __future__ import annotations

from typing import Any

import diff_match_patch

from ..sessioncheck import fail
from ._flat import Flat, link

_OPS = (-1, 0, 1)


def to_units(text: str) -> str:
    """``text`` with every character outside the BMP as its UTF-16 surrogate pair."""
    if text.isascii():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if code > 0xFFFF:
            code -= 0x10000
            out.append(chr(0xD800 + (code >> 10)) + chr(0xDC00 + (code & 0x3FF)))
        else:
            out.append(ch)
    return "".join(out)


def from_units(text: str) -> str:
    """Surrogate pairs joined back into characters (a lone surrogate stays as it is)."""
    if text.isascii():
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _count(value: Any, what: str, source: str) -> int:
    if type(value) is not int or not 0 <= value < 1 << 40:
        raise fail(source, f"{what}: a patch position is not a whole number")
    return value


def _diffs(raw: Any, what: str, source: str) -> list[tuple[int, str]]:
    if not isinstance(raw, list):
        raise fail(source, f"{what}: a patch's diffs is not a list")
    out = []
    for entry in raw:
        if isinstance(entry, list) and len(entry) == 2:
            op, text = entry
        elif isinstance(entry, dict) and set(entry) == {"0", "1"}:
            op, text = entry["0"], entry["1"]
        else:
            raise fail(source, f"{what}: a diff is not [operation, text]")
        if type(op) is not int or op not in _OPS or not isinstance(text, str):
            raise fail(source, f"{what}: a diff is not [-1|0|1, text]")
        out.append((op, to_units(text)))
    return out


def _patch_objects(raw: Any, what: str, source: str, dmp: Any) -> list[Any]:
    """The patch objects of one node's ``patch``/``patches`` field (in UTF-16 units)."""
    if isinstance(raw, str):
        try:
            return list(dmp.patch_fromText(to_units(raw)))
        except (ValueError, IndexError):
            raise fail(source, f"{what}: the patch text is not a diff-match-patch patch") from None
    if not isinstance(raw, list):
        raise fail(source, f"{what}: the patch is not a list of patches")
    out = []
    for item in raw:
        if not isinstance(item, dict):
            raise fail(source, f"{what}: a patch is not an object")
        patch = diff_match_patch.patch_obj()
        patch.diffs = _diffs(item.get("diffs"), what, source)
        text1 = sum(len(t) for op, t in patch.diffs if op <= 0)
        text2 = sum(len(t) for op, t in patch.diffs if op >= 0)
        patch.start1 = _count(item.get("start1", 0), what, source)
        patch.start2 = _count(item.get("start2", patch.start1), what, source)
        # The lengths follow from the diffs (a writer counting code points rather than
        # UTF-16 units would disagree): they are checked for type only.
        _count(item.get("length1", 0), what, source)
        _count(item.get("length2", 0), what, source)
        patch.length1, patch.length2 = text1, text2
        out.append(patch)
    return out


def apply_patch_field(base: str, raw: Any, what: str, source: str) -> str:
    """``base`` (in UTF-16 units) with a node's patches applied; refused with one line when
    a patch does not apply. An empty field (the root's ``""``, null, ``[]``) changes nothing."""
    if raw is None or raw == "" or raw == []:
        return base
    dmp = diff_match_patch.diff_match_patch()
    patches = _patch_objects(raw, what, source, dmp)
    # A patch list without positions that spells the whole parent text is a whole diff:
    # its result is exact, with no matching needed.
    if len(patches) == 1 and isinstance(raw, list) and "start1" not in raw[0]:
        diffs = patches[0].diffs
        if "".join(t for op, t in diffs if op <= 0) == base:
            return "".join(t for op, t in diffs if op >= 0)
    try:
        text, applied = dmp.patch_apply(patches, base)
    except (ValueError, IndexError, TypeError):
        raise fail(source, f"{what}: its patch does not apply to its parent's text") from None
    if not all(applied):
        raise fail(source, f"{what}: its patch does not apply to its parent's text")
    return text


def rebase(ordered: list[Flat], full: dict[str, str], roots: list[str]) -> list[str]:
    """Turn each node's full text (``full``, by id, in Python text) into its loomtui segment;
    returns the roots (a rewrite no ancestor's text prefixes becomes one more root).

    ``ordered`` is depth-first (parents first). A node whose full text does not start with
    its parent's (a rewrite) is moved under the deepest ancestor whose full text is a prefix
    of its own; its format parent is kept in ``meta["patch_parent"]``."""
    by_id = {f.id: f for f in ordered}
    roots = list(roots)
    for flat in ordered:
        text = full[flat.id]
        anchor = flat.parent
        while anchor is not None and not text.startswith(full[anchor]):
            anchor = by_id[anchor].parent
        if anchor != flat.parent:
            flat.meta["patch_parent"] = flat.parent
            flat.parent = anchor
            if anchor is None:
                roots.append(flat.id)
        flat.text = text[len(full[anchor]) :] if anchor is not None else text
    return roots


def patched_tree(
    flats: list[Flat],
    patch_of: dict[str, Any],
    source: str,
    what: str,
    appended: dict[str, str] | None = None,
) -> tuple[list[Flat], list[str]]:
    """Link ``flats``, build every node's full text from the root down (its patches
    applied to its parent's text, or ``appended[id]`` added to it) and make the segments."""
    ordered, roots = link(flats, source, what)
    units: dict[str, str] = {}
    full: dict[str, str] = {}
    appended = appended or {}
    for flat in ordered:
        base = units[flat.parent] if flat.parent is not None else ""
        where = f"{what}: node {flat.id[:40]!r}"
        if flat.id in appended:
            text = base + to_units(appended[flat.id])
        else:
            text = apply_patch_field(base, patch_of.get(flat.id), where, source)
        units[flat.id] = text
        full[flat.id] = from_units(text)
    roots = rebase(ordered, full, roots)
    return ordered, roots
