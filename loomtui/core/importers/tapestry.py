"""Tapestry-Loom weaves: binary rkyv archives loomtui cannot read, refused with a clear line.

They are recognised by their magic bytes before any JSON parsing (a weave is not JSON), so
this is not a registry format: :func:`refuse_binary` runs on the raw bytes first.
"""

from __future__ import annotations

from ..sessioncheck import fail

#: The first bytes of every Tapestry-Loom weave file.
TAPESTRY_MAGIC = b"VersionedTapestryWeave__"


def is_tapestry(raw: bytes) -> bool:
    """Whether the file's bytes are a Tapestry-Loom weave."""
    return raw.startswith(TAPESTRY_MAGIC)


def refuse_binary(raw: bytes, source: str) -> None:
    """Raise a one-line :class:`SessionFileError` for a binary format loomtui cannot read."""
    if is_tapestry(raw):
        raise fail(
            source,
            "a Tapestry-Loom weave (binary rkyv archive); loomtui cannot read it "
            "- export the text from Tapestry-Loom instead",
        )
