"""The state of a session a person could tell apart, as plain JSON (the undo tests compare
it before and after, across processes): ids, links, text, tokens with their numbers (as
the session file keeps them: logprobs to the micro-nat), labels, bookmarks, the current
node. View state (visited, checked) is left out: moving around is not a change."""

from __future__ import annotations

from typing import Any

from loomtui.core.tree import Session


def state(session: Session) -> dict[str, Any]:
    nodes = {}
    for nid, n in sorted(session.nodes.items()):
        toks = None
        if n.tokens is not None:
            toks = [
                [
                    t.bytes.hex(),
                    t.token_id,
                    None if t.logprob is None else round(t.logprob, 5),
                    [[a.bytes.hex(), a.token_id, round(a.logprob, 5)] for a in t.top],
                    None if t.entropy is None else round(t.entropy, 5),
                ]
                for t in n.tokens
            ]
        nodes[nid] = {
            "parent": n.parent,
            "children": list(n.children),
            "origin": n.origin,
            "plain": n.plain,
            "tokens": toks,
            "label": n.label,
            "bookmark": n.bookmark,
            "finish": n.finish_reason,
            "error": n.error,
        }
    return {"root": session.root_id, "current": session.current_id, "nodes": nodes}
