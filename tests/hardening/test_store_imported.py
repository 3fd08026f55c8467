"""Opening another loom's file never overwrites it: the work goes to a sibling file."""

from __future__ import annotations

import shutil

from loomtui.core.sessionfile import load_session
from loomtui.core.store import SessionStore


def test_loom_file_is_never_overwritten(shared_fixtures, tmp_path):
    src = tmp_path / "demo.json"
    shutil.copy(shared_fixtures / "loom" / "loom_demo.json", src)
    original = src.read_bytes()
    imported = load_session(src)
    store = SessionStore.open(src)
    try:
        assert store.path == tmp_path / "demo.loomtui.json"
        # The first open shows the loom tree itself, every node and text of it.
        assert set(store.session.nodes) == set(imported.nodes)
        assert {n.id: store.session.branch_text(n.id) for n in store.session.leaves()} == {
            n.id: imported.branch_text(n.id) for n in imported.leaves()
        }
        leaf = store.session.leaves()[0]
        store.session.set_bookmark(leaf.id)
        store.save()
    finally:
        store.close()
    assert src.read_bytes() == original
    # Reopening the loom file finds the work saved beside it.
    again = SessionStore.open(src)
    try:
        assert again.path == tmp_path / "demo.loomtui.json"
        assert again.session.node(leaf.id).bookmark
    finally:
        again.close()
    assert load_session(tmp_path / "demo.loomtui.json").node(leaf.id).bookmark
