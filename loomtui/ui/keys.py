"""Every key of the app, declared once: its keymap id, default keys, action, the footer's
short label, the palette's title and a line of help.

The app's bindings are built from :data:`APP_KEYS` and :func:`instrument_keys`
(:mod:`loomtui.ui.bindings`, the keymap applied there); the command palette and the F1 help
are generated from the same declarations and the *active* keymap (:func:`shown_keys`), so a
key rebound in ``[keymap]`` shows as rebound everywhere.
The config (:mod:`loomtui.config`) validates ``[keymap]`` ids against :func:`keymap_ids`.

No textual import here: the config imports this module to check ids, and a verb that never
opens the app should not pay for Textual.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .screens.instruments import INSTRUMENTS, InstrumentSpec


@dataclass(frozen=True)
class Key:
    """One binding as declared. ``id`` is what ``[keymap]`` rebinds; two declarations may
    share an id when they are one key with a meaning per mode (ctrl+s saves the session, or
    the edit while the editor is open): rebinding the id moves both."""

    id: str
    keys: str
    action: str
    label: str  # the footer's (short)
    help: str  # one line: the palette's help, the footer's tooltip, F1's text
    title: str = ""  # the palette's title (default: the label)
    show: bool = True  # in the footer
    priority: bool = False
    palette: bool = True  # offered in the command palette

    @property
    def name(self) -> str:
        """The palette's title."""
        return self.title or self.label


APP_KEYS: tuple[Key, ...] = (
    Key(
        "generate",
        "ctrl+g",
        "generate",
        "Generate",
        "Generate from the token cursor",
        priority=True,
    ),
    Key(
        "topk",
        "ctrl+k",
        "topk",
        "Top-k",
        "Alternatives at the token cursor; pick one to branch",
        title="Top-k menu",
        priority=True,
    ),
    Key(
        "cancel",
        "escape",
        "cancel",
        "Cancel/close",
        "Stop generating (the partial text is kept), or leave the editor",
        title="Cancel generation",
    ),
    # The same key in the editor (the footer shows it there instead, see check_action).
    Key(
        "cancel",
        "escape",
        "edit_leave",
        "Close (asks)",
        "In the editor: leave it (asks first when the text changed)",
        palette=False,
    ),
    Key(
        "save",
        "ctrl+s",
        "save",
        "Save",
        "Save the session now (autosave runs after every change)",
        priority=True,
    ),
    Key(
        "save",
        "ctrl+s",
        "edit_save",
        "Save edit",
        "In the editor: save the edit as a new sibling branch",
        priority=True,
        palette=False,
    ),
    Key("quit", "ctrl+q", "quit", "Quit", "Save and quit", priority=True),
    Key("help", "f1", "help", "Help", "Every key binding"),
    Key(
        "edit",
        "e",
        "edit",
        "Edit",
        "Edit the branch; the edit becomes a new sibling",
        title="Edit text",
    ),
    Key("edit-enter", "enter", "edit", "Edit", "Edit the branch (as e)", show=False, palette=False),
    Key(
        "sibling-prev",
        "left_square_bracket",
        "sibling(-1)",
        "Prev sib",
        "Move to the previous alternate at the branch point",
        title="Previous sibling",
    ),
    Key(
        "sibling-next",
        "right_square_bracket",
        "sibling(1)",
        "Next sib",
        "Move to the next alternate at the branch point",
        title="Next sibling",
    ),
    Key("parent", "less_than_sign", "parent", "Parent", "Move to the parent node", show=False),
    Key(
        "child",
        "greater_than_sign",
        "child",
        "Child",
        "Move down to the child you came up from (else the newest)",
        show=False,
    ),
    Key(
        "bookmark",
        "b",
        "bookmark",
        "Bookmark",
        "Toggle a bookmark on the node under the cursor",
        show=False,
    ),
    Key("label", "l", "label", "Label", "Label the node under the cursor", show=False),
    Key(
        "search",
        "slash",
        "finding('search')",
        "Search",
        "Search the whole tree (text or regex); n/N step through the matches",
        show=False,
    ),
    Key(
        "search-next",
        "n",
        "finding('next')",
        "Next match",
        "Go to the next search match (its branch, the cursor on it)",
        show=False,
    ),
    Key(
        "search-prev",
        "N",
        "finding('prev')",
        "Prev match",
        "Go to the previous search match",
        title="Previous match",
        show=False,
    ),
    Key(
        "rate-good",
        "plus",
        "finding('good')",
        "Rate +1",
        "Rate the node under the cursor good (▲ +1); again clears it",
        title="Rate good (+1)",
        show=False,
    ),
    Key(
        "rate-so-so",
        "equals_sign",
        "finding('so-so')",
        "Rate 0",
        "Rate the node under the cursor so-so (◇ 0); again clears it",
        title="Rate so-so (0)",
        show=False,
    ),
    Key(
        "rate-bad",
        "minus",
        "finding('bad')",
        "Rate -1",
        "Rate the node under the cursor bad (▼ -1); again clears it",
        title="Rate bad (-1)",
        show=False,
    ),
    Key(
        "rating-filter",
        "f",
        "finding('filter')",
        "Filter",
        "Tree panel: every node, rated so-so or better, or good only (each press)",
        title="Filter the tree by rating",
        show=False,
    ),
    Key(
        "bookmark-next",
        "apostrophe",
        "finding('bookmark-next')",
        "Next bookmark",
        "Go to the next bookmark in tree order",
        show=False,
    ),
    Key(
        "bookmark-prev",
        "quotation_mark",
        "finding('bookmark-prev')",
        "Prev bookmark",
        "Go to the previous bookmark in tree order",
        title="Previous bookmark",
        show=False,
    ),
    Key(
        "bookmarks",
        "B",
        "finding('bookmarks')",
        "Bookmarks",
        "List every bookmark; enter goes there",
        show=False,
    ),
    # Siblings ordered and thinned (loomtui.ui.siblings): at the branch point nearest the
    # cursor, or on the tree panel's node when it has the focus.
    Key(
        "sort-siblings",
        "o",
        "siblings('sort')",
        "Sort alts",
        "Sort the alternates here: each press the next key (logprob, mean, confidence...)",
        title="Sort alternates",
        show=False,
    ),
    Key(
        "dedup-siblings",
        "D",
        "siblings('dedup')",
        "Dedup",
        "Merge identical alternates here into one that counts the draws (×N)",
        title="Merge identical alternates",
        show=False,
    ),
    Key(
        "hide",
        "h",
        "siblings('hide')",
        "Hide",
        "Hide this alternate (kept in the file); on a hidden one: show it again",
        title="Hide/unhide alternate",
        show=False,
    ),
    Key(
        "prune",
        "P",
        "siblings('prune')",
        "Prune",
        "Hide the alternates here whose mean logprob (or another key) is below a threshold",
        title="Prune alternates by threshold",
        show=False,
    ),
    Key(
        "show-hidden",
        "H",
        "siblings('shown')",
        "Show hidden",
        "Show hidden nodes (dimmed, to unhide them) or leave them out",
        title="Show/leave out hidden nodes",
        show=False,
    ),
    Key(
        "user-turn",
        "a",
        "user_turn",
        "New turn",
        "Chat: write the next user message; the model replies as itself",
        title="New user turn",
        show=False,
    ),
    # Tree surgery and undo (loomtui.ui.surgery), at the node under the token cursor.
    Key(
        "undo",
        "ctrl+z",
        "surgery('undo')",
        "Undo",
        "Undo the last change to the tree (a generation, an edit, a split, a delete...)",
        show=False,
    ),
    Key(
        "redo",
        "ctrl+y",
        "surgery('redo')",
        "Redo",
        "Redo the change last undone",
        show=False,
    ),
    Key(
        "split",
        "vertical_line",
        "surgery('split')",
        "Split",
        "Split the node just after the token under the cursor",
        title="Split node here",
        show=False,
    ),
    Key(
        "merge",
        "J",
        "surgery('merge')",
        "Merge",
        "Merge the node with its parent (siblings move up, asked first)",
        title="Merge node with parent",
        show=False,
    ),
    Key(
        "delete",
        "delete",
        "surgery('delete')",
        "Delete",
        "Delete the subtree at the cursor's node (asks when more than one node)",
        title="Delete subtree",
        show=False,
    ),
    Key(
        "copy-branch",
        "Y",
        "surgery('copy')",
        "Copy branch",
        "Copy this branch (and what hangs below) to a new top-level branch",
        title="Copy branch to a new root",
        show=False,
    ),
    Key(
        "hoist",
        "z",
        "surgery('hoist')",
        "Hoist",
        "Show the subtree at the cursor's node as the whole tree",
        title="Hoist subtree",
        show=False,
    ),
    Key(
        "unhoist",
        "Z",
        "surgery('unhoist')",
        "Unhoist",
        "Show the whole tree again",
        title="Unhoist",
        show=False,
    ),
    Key(
        "toggle-side",
        "f2",
        "toggle_side",
        "Panels",
        "Show or hide the branch and tree panels",
        title="Toggle panels",
        show=False,
    ),
    Key("settings", "s", "settings", "Settings", "Generation settings and presets", show=False),
    Key(
        "export",
        "x",
        "export",
        "Export",
        "Export this branch, the leaves under here or every leaf to a file",
        show=False,
    ),
    Key(
        "score",
        "c",
        "score",
        "Score text",
        "Score the plain text on this branch with the model",
        show=False,
    ),
    Key(
        "scale-mode",
        "m",
        "toggle_scale",
        "Scale mode",
        "Colour by surprisal or by linear probability",
        title="Scale: logprob/probability",
        show=False,
    ),
    Key(
        "theme",
        "t",
        "next_theme",
        "Colour theme",
        "Cycle the colour themes",
        title="Next colour theme",
        show=False,
    ),
    Key(
        "palette",
        "ctrl+p",
        "command_palette",
        "palette",
        "Command palette: every action",
        show=False,
        priority=True,
        palette=False,
    ),
)

#: Ids of bindings declared by widgets and screens the app shows (the token view's cursor
#: keys, the top-k menu's close); tests/ui/test_keys.py keeps this list equal to them.
WIDGET_KEY_IDS: tuple[str, ...] = (
    "cursor-left",
    "cursor-right",
    "cursor-up",
    "cursor-down",
    "cursor-home",
    "cursor-end",
    "page-up",
    "page-down",
    "clear-search",
    "topk-close",
)


def instrument_key(name: str, spec: InstrumentSpec) -> Key:
    """An instrument's key: its id is the instrument's name (``[keymap] entropy = "U"``)."""
    return Key(
        name,
        spec.key,
        f"instrument('{name}')",
        spec.title,
        spec.description,
        title=f"Instrument: {spec.title}",
        show=False,
    )


def instrument_keys(instruments: Mapping[str, InstrumentSpec] | None = None) -> tuple[Key, ...]:
    """A key per instrument (every registered one by default)."""
    specs = INSTRUMENTS if instruments is None else instruments
    return tuple(instrument_key(name, spec) for name, spec in specs.items() if spec.key)


def keymap_ids() -> list[str]:
    """Every id ``[keymap]`` accepts, in the order F1 lists them."""
    ids = [k.id for k in (*APP_KEYS, *instrument_keys())] + list(WIDGET_KEY_IDS)
    return list(dict.fromkeys(ids))


# --------------------------------------------------------------------------- display
_SHORT = {
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "less_than_sign": "<",
    "greater_than_sign": ">",
    "comma": ",",
    "full_stop": ".",
    "question_mark": "?",
    "slash": "/",
    "plus": "+",
    "minus": "-",
    "equals_sign": "=",
    "apostrophe": "'",
    "quotation_mark": '"',
    "space": "space",
    "vertical_line": "|",
}


def pretty(keys: str) -> str:
    """``keys`` (Textual's names, comma-separated) as a person writes them: ``[`` for
    ``left_square_bracket``; several keys joined with ``/``."""
    out = []
    for key in keys.split(","):
        mods, plus, last = key.strip().rpartition("+")
        out.append(mods + plus + _SHORT.get(last, last))
    return "/".join(out)


def shown_keys(keymap: Mapping[str, str], binding_id: str | None, default: str) -> str:
    """The keys a binding answers to under ``keymap`` (the config's ``[keymap]``), for
    display."""
    keys = keymap.get(binding_id, default) if binding_id else default
    return pretty(keys)
