"""Replay a saved session against another model: the same generation points, contexts,
settings and seeds, with the new model's continuations placed beside the originals.

A *generation point* is a model node that a generation started (not the tail of a split,
which only continues one). Siblings generated together (same parent, same settings) are
replayed as one call with the same ``n``, so a seeded sampler sees the same request.
Each replayed node records ``meta["replay_of"]`` (the original node ids), so the two trees
can be walked side by side and diffed.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field

from ..backends.base import Backend, GenerationSettings
from ..core.tree import Node, Session
from ..engine import Engine
from .progress import Cancelled, Progress, check, report


@dataclass
class ReplayResult:
    session: Session
    pairs: list[tuple[list[str], list[str]]] = field(default_factory=list)  # originals, new
    errors: list[str] = field(default_factory=list)

    @property
    def points(self) -> int:
        return len(self.pairs)


def generation_points(session: Session) -> list[tuple[str, list[Node]]]:
    """``(parent_id, nodes)`` for every generation call in the tree, in tree order."""
    groups: dict[tuple[str, str], list[Node]] = {}
    order: list[tuple[str, str]] = []
    for node in session.walk():
        if node.origin != "model" or node.parent is None or node.settings is None:
            continue
        if "split_from" in node.meta or "replay_of" in node.meta:
            continue
        if "instrument" in node.settings:
            continue  # inserted by an instrument, not generated
        key = (node.parent, json.dumps(node.settings, sort_keys=True))
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(node)
    return [(key[0], groups[key]) for key in order]


def replay(
    session: Session,
    backend: Backend,
    progress: Progress | None = None,
    in_place: bool = False,
    cancel: threading.Event | None = None,
) -> ReplayResult:
    """A copy of ``session`` (or ``session`` itself when ``in_place``) with every
    generation point re-run on ``backend``, each new node beside its original.

    ``progress`` is told ``(points replayed, points)`` after each point. A set ``cancel``
    stops the running generation and raises :class:`~.progress.Cancelled`; in place, the
    nodes the replay added are deleted again first, so a cancelled replay leaves nothing.
    """
    new = session if in_place else copy.deepcopy(session)
    current = session.current_id
    engine = Engine(new, backend)
    points = generation_points(new)
    result = ReplayResult(session=new)
    try:
        for i, (parent_id, originals) in enumerate(points):
            check(cancel)
            settings = GenerationSettings.from_dict(originals[0].settings or {})
            settings.n = len(originals)
            res = engine.generate(parent_id, None, settings, cancel=cancel)
            ids = [n.id for n in originals]
            for node in res.nodes:
                node.meta["replay_of"] = ids
            result.pairs.append((ids, [n.id for n in res.nodes]))
            check(cancel)  # a generation cut short by the cancel is not a replay
            result.errors.extend(res.errors)
            report(progress, i + 1, len(points))
    except Cancelled:
        if in_place:
            for _, added in result.pairs:
                for node_id in added:
                    if node_id in new:
                        new.delete(node_id)
            new.current_id = current if current in new else new.root_id
        raise
    new.meta["replayed_with"] = backend.info().name
    new.current_id = current if current in new else new.root_id
    return result
