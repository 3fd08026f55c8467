"""The declared keys (:mod:`loomtui.ui.keys`) as Textual bindings, with the user's keymap
applied where they are declared: a rebound key keeps its place in the footer (Textual's own
keymap moves it to the end, past the edge at 80 columns), and a key the keymap takes from
another binding is reported, not silently lost."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textual.binding import Binding, BindingsMap

from .keys import APP_KEYS, Key, instrument_keys, pretty


def binding(key: Key, keys: str | None = None) -> Binding:
    """The Textual binding of a declared key (its id is what ``[keymap]`` rebinds), on
    ``keys`` when the keymap rebinds it."""
    return Binding(
        keys or key.keys,
        key.action,
        key.label,
        show=key.show,
        priority=key.priority,
        tooltip=key.help,
        id=key.id,
    )


def keyed_bindings(
    keys: Iterable[Key], keymap: Mapping[str, str], system: Iterable[Binding] = ()
) -> tuple[BindingsMap, list[str]]:
    """The bindings of ``keys`` with ``keymap`` applied, in declared order, and a line per
    key the keymap gave to a binding that had it already: the rebound one keeps the key
    (as Textual's keymap does), the line says what lost it."""
    bindings = BindingsMap([*(binding(k, keymap.get(k.id)) for k in keys), *system])
    clashes = []
    for key, on_key in bindings.key_to_bindings.items():
        winners = [b for b in on_key if b.id in keymap]
        lost = ", ".join(dict.fromkeys(b.id or b.action for b in on_key if b.id not in keymap))
        if winners and lost:
            bindings.key_to_bindings[key] = winners
            clashes.append(f"keymap: {pretty(key)} is {winners[0].id}'s now, not {lost}'s")
    return bindings, clashes


#: Every key the app declares: its own, then one per registered instrument.
KEYS: tuple[Key, ...] = (*APP_KEYS, *instrument_keys())
#: Each declared id's default keys.
DEFAULT_KEYS: dict[str, str] = {k.id: k.keys for k in KEYS}
