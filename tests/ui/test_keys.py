"""Every key is rebindable in ``[keymap]`` (instrument keys included), and what the app says
about keys (footer, palette, F1, hints) follows the keymap: a rebound key never shows under
its old name. A misspelt keymap id is refused with the nearest id."""

from __future__ import annotations

import pytest
from loomtests.ui import demo_session, screen_text, wait_idle
from loomtests.words import WordsBackend
from textual.binding import Binding

from loomtui.backends.base import GenerationSettings
from loomtui.config import Config, load_config
from loomtui.core.errors import LoomError
from loomtui.core.tree import Session
from loomtui.ui.app import LoomApp, make_app
from loomtui.ui.keys import keymap_ids
from loomtui.ui.widgets.token_view import TokenView
from loomtui.ui.widgets.topk import TopKMenu

SIZE = (80, 24)


def _app(keymap: dict[str, str], session: Session | None = None, **kw) -> LoomApp:
    return make_app(
        session=session or demo_session(),
        backend=WordsBackend(),
        new_session=False,
        config={"keymap": keymap},
        **kw,
    )


async def test_a_rebound_generate_shows_as_rebound_in_palette_help_footer_and_hints():
    app = _app({"generate": "ctrl+r"}, session=Session.new())
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        main = screen_text(app)
        # The empty document's hint and the footer name the new key.
        assert "then ctrl+r to generate" in main and "ctrl+g" not in main
        assert "^r Generate" in main and "^g" not in main

        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"generate")
        await pilot.pause(0.3)
        palette = screen_text(app)
        assert "Generate from the token cursor (ctrl+r)" in palette
        assert "ctrl+g" not in palette
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("f1")
        await pilot.pause()
        help_text = screen_text(app)
        row = next(line for line in help_text.splitlines() if "Generate from" in line)
        assert "ctrl+r" in row and "generate" in row
        assert "ctrl+g" not in help_text


async def test_the_busy_hint_names_the_rebound_cancel_key():
    app = make_app(
        session=demo_session(),
        backend=WordsBackend(delay=0.05),  # slow enough to be still running
        new_session=False,
        config={"keymap": {"cancel": "ctrl+x"}},
    )
    app.settings = GenerationSettings(max_tokens=200)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+g")
        await pilot.pause()
        await pilot.press("e")  # refused while generating, with a hint
        await pilot.pause()
        said = [n.message for n in app._notifications]
        assert any("generating… (ctrl+x cancels)" in m for m in said), said
        await pilot.press("ctrl+x")
        await wait_idle(app, pilot)
        assert not app.generating


async def test_an_instrument_key_is_rebindable_by_the_instruments_name():
    app = _app({"entropy": "U"})
    async with app.run_test(size=(100, 60)) as pilot:
        await pilot.press("u")  # the old key does nothing now
        await pilot.pause()
        assert type(app.screen).__name__ != "EntropyScreen"
        await pilot.press("U")
        await pilot.pause()
        assert type(app.screen).__name__ == "EntropyScreen"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("f1")
        await pilot.pause()
        shown = screen_text(app)
        for _ in range(4):  # the help scrolls when it is longer than the screen
            await pilot.press("pagedown")
            await pilot.pause()
            shown += "\n" + screen_text(app)
        row = next(line for line in shown.splitlines() if "Entropy strip" in line)
        words = row.replace("│", " ").split()
        assert words[0] == "U" and words[-1] == "entropy", row


async def test_the_palette_key_is_rebindable_and_the_footer_follows():
    app = _app({"palette": "ctrl+o"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "^o" in screen_text(app) and "^p" not in screen_text(app)
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert type(app.screen).__name__ == "CommandPalette"


async def test_rebinding_save_moves_it_in_the_editor_too(tmp_path):
    """ctrl+s means "save" on the view and "save the edit" in the editor: one id, so the
    rebound key does both, and the old key neither."""
    path = tmp_path / "s.json"
    app = _app({"save": "ctrl+w"}, path=path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("end", *" more")
        await pilot.press("ctrl+s")  # no longer a key here
        await pilot.pause()
        assert app.editing.active
        await pilot.press("ctrl+w")
        await pilot.pause()
        assert not app.editing.active
        assert app.session.branch_text(app.session.current_id).endswith(" more")
        await pilot.press("ctrl+w")
        await pilot.pause()
        assert path.exists()


def test_every_binding_id_is_a_keymap_id_and_nothing_else_is():
    ids = set()
    for cls in (LoomApp, TokenView, TopKMenu):
        ids |= {b.id for b in cls.BINDINGS if isinstance(b, Binding) and b.id}
    assert set(keymap_ids()) == ids
    # Every binding the app declares has an id (so every key can be rebound).
    assert all(isinstance(b, Binding) and b.id for b in LoomApp.BINDINGS)
    assert Config.model_validate({"keymap": dict.fromkeys(ids, "f12")}).keymap


@pytest.mark.parametrize(
    ("name", "near"),
    [("generat", "generate"), ("entropi", "entropy"), ("sibling_prev", "sibling-prev")],
)
def test_a_misspelt_keymap_id_is_refused_with_the_nearest(tmp_path, name, near):
    path = tmp_path / "config.toml"
    path.write_text(f'[keymap]\n{name} = "ctrl+r"\n')
    with pytest.raises(LoomError) as err:
        load_config(path, environ={})
    assert str(err.value) == (
        f"config {path}: keymap: unknown keymap id {name!r} (did you mean {near!r}?)"
    )


def test_a_misspelt_keymap_variable_is_refused_with_the_nearest(tmp_path):
    with pytest.raises(LoomError) as err:
        load_config(tmp_path / "none.toml", environ={"LOOMTUI_KEYMAP__SIBLING_PRV": "comma"})
    assert str(err.value) == (
        "environment LOOMTUI_KEYMAP__SIBLING_PRV: keymap: unknown keymap id 'sibling-prv' "
        "(did you mean 'sibling-prev'?)"
    )


async def test_a_key_given_to_another_binding_goes_to_it_and_the_app_says_so():
    app = _app({"generate": "e"}, session=Session.new("Go"))
    app.settings = GenerationSettings(max_tokens=2)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        said = [n.message for n in app._notifications]
        assert "keymap: e is generate's now, not edit's" in said, said
        await pilot.press("e")
        await wait_idle(app, pilot)
        assert not app.editing.active
        assert app.session.branch_text(app.session.current_id) == "Go the cat"
