"""The verbs that write a session with ``-o`` (``score``, ``loom``, ``sweep``, ``replay``)
write it as the app does: through the store, each change an undo step. ``loomtui undo``
after one of them takes back exactly what it added, and the steps made before it (in the
app, or by another verb) stay undoable; a verb writing a new file starts its history there;
one replacing another file removes the history that described the tree it replaced."""

from __future__ import annotations

import json

import pytest
from loomtests.undo_state import state

from loomtui.backends.base import GenerationSettings
from loomtui.cli import main
from loomtui.core.historyfile import history_path
from loomtui.core.sessionfile import load_session
from loomtui.core.store import SessionStore
from loomtui.engine import Engine

LOOM = ["--branch-entropy", "1.5", "--top", "2", "--max-depth", "1", "--max-tokens", "3"]


@pytest.fixture
def use_fake(monkeypatch, make_fake):
    """Every verb's model is a fake (a full distribution: scoring, generating, looming)."""
    fake = make_fake("fake-model")
    for verb in ("score", "loom_cmd", "sweep", "replay"):
        monkeypatch.setattr(f"loomtui.cli.{verb}.backend_from_args", lambda args, m=None: fake)
    return fake


def _made_in_the_app(path, backend) -> dict[str, str]:
    """A session with three undo steps, made as the app makes them: a prompt, a generation
    after it, a label on the prompt (each touching a node the verbs then touch)."""
    with SessionStore.open(path) as store:
        engine = Engine.over(store, backend)
        s = engine.session
        prompt = engine.add(s.root_id, plain="The cat", origin="prompt")
        gen = engine.generate(prompt.id, None, GenerationSettings(max_tokens=4, seed=1))
        engine.set_label(prompt.id, "mine")
        return {"prompt": prompt.id, "gen": gen.nodes[0].id}


def _undo(path, capsys, *more: str) -> dict:
    capsys.readouterr()
    assert main(["undo", str(path), "--json", *more]) == 0
    return json.loads(capsys.readouterr().out)


def _steps(path, capsys) -> list[str]:
    """What ``undo --list`` says can be undone, newest first."""
    capsys.readouterr()
    assert main(["undo", str(path), "--list"]) == 0
    line = capsys.readouterr().out.strip()
    return line.split(" | ")[0].removeprefix("undo: ").split(", ")


def _undo_after(verb_argv, path, capsys, label_start: str) -> None:
    """Run the verb on ``path``; then one undo takes back exactly what it added, and the
    app's three older steps undo after it (none refused)."""
    before = state(load_session(path))
    assert main(verb_argv) == 0
    after = load_session(path)
    assert state(after) != before
    done = _undo(path, capsys)
    assert done["done"][0].startswith(label_start), done
    assert state(load_session(path)) == before  # exactly as before the verb
    older = _undo(path, capsys, "--steps", "3")
    labels = older["done"]
    assert len(labels) == 3 and labels[0].startswith("label")
    assert labels[1].startswith("generate") and labels[2].startswith("add")
    assert [n.plain for n in load_session(path).nodes.values()] == [""]  # back to empty
    redo = json.loads(_redo(path, capsys, "4"))
    assert redo["done"][-1].startswith(label_start)
    assert state(load_session(path)) == state(after)  # and redone to what the verb wrote


def _redo(path, capsys, steps: str) -> str:
    capsys.readouterr()
    assert main(["redo", str(path), "--steps", steps, "--json"]) == 0
    return capsys.readouterr().out


def test_score_into_a_session_is_undone_and_older_steps_stay_undoable(use_fake, tmp_path, capsys):
    path = tmp_path / "s.json"
    _made_in_the_app(path, use_fake)
    argv = ["score", "--text", "The cat sat on the mat", "-o", str(path)]
    _undo_after(argv, path, capsys, "add")


def test_loom_grown_in_its_own_session_is_undone(use_fake, tmp_path, capsys):
    path = tmp_path / "s.json"
    ids = _made_in_the_app(path, use_fake)
    argv = ["loom", "--session", str(path), "--node", ids["prompt"], *LOOM, "-o", str(path)]
    _undo_after(argv, path, capsys, "adaptive")


def test_sweep_in_its_own_session_is_undone(use_fake, tmp_path, capsys):
    path = tmp_path / "s.json"
    ids = _made_in_the_app(path, use_fake)
    argv = ["sweep", "--session", str(path), "--node", ids["gen"], "--position", "1",
            "--top-k", "2", "--max-tokens", "3", "-o", str(path)]  # fmt: skip
    _undo_after(argv, path, capsys, "sweep")


def test_replay_into_its_own_session_is_undone(use_fake, tmp_path, capsys):
    path = tmp_path / "s.json"
    _made_in_the_app(path, use_fake)
    _undo_after(["replay", str(path), "-o", str(path)], path, capsys, "replay")
    assert load_session(path).meta.get("replayed_with") == "fake-model"  # redone, as written


def test_a_verb_writing_a_new_file_starts_its_history_there(use_fake, tmp_path, capsys):
    """``sweep --prompt ... -o NEW``: the new file's history holds the verb's changes (its
    scored text, then the sweep), so an undo takes the sweep back."""
    new = tmp_path / "new.json"
    argv = ["sweep", "--prompt", "The cat", "--text", " sat on the mat", "--position", "1",
            "--top-k", "2", "--max-tokens", "3", "-o", str(new)]  # fmt: skip
    assert main(argv) == 0
    swept = load_session(new)
    assert [step.split()[0] for step in _steps(new, capsys)] == ["sweep", "add"]
    _undo(new, capsys)
    back = load_session(new)
    assert len(back.nodes) < len(swept.nodes)
    assert {n.plain or n.text for n in back.nodes.values()} == {"", "The cat", " sat on the mat"}


def test_replay_into_another_file_replaces_it_and_its_old_history(use_fake, tmp_path, capsys):
    src, dst = tmp_path / "src.json", tmp_path / "dst.json"
    _made_in_the_app(src, use_fake)
    _made_in_the_app(dst, use_fake)  # another session, with a history of its own
    assert len(_steps(dst, capsys)) == 3
    source = state(load_session(src))
    assert main(["replay", str(src), "-o", str(dst)]) == 0
    assert _steps(dst, capsys) == ["replay"]  # dst's old steps described another tree
    _undo(dst, capsys)
    assert state(load_session(dst)) == source  # the undo gives the source's tree
    assert history_path(src).exists()  # the source's own history is not touched
    assert len(_steps(src, capsys)) == 3


def test_refusals_are_as_before_and_write_nothing(use_fake, tmp_path, capsys):
    """A missing --session, an unknown node: one line, exit 2, no file made."""
    path = tmp_path / "s.json"
    argv = ["loom", "--session", str(path), *LOOM, "-o", str(path)]
    assert main(argv) == 2
    assert not path.exists() and not history_path(path).exists()
    _made_in_the_app(path, use_fake)
    data = path.read_bytes()
    argv = ["sweep", "--session", str(path), "--node", "nosuch", "-o", str(path)]
    assert main(argv) == 2
    assert "nosuch" in capsys.readouterr().err
    assert path.read_bytes() == data
    # Refused after the model loaded, before any change: another -o is not made either.
    other = tmp_path / "other.json"
    gen = [n.id for n in load_session(path).nodes.values() if n.origin == "model"][0]
    argv = ["sweep", "--session", str(path), "--node", gen, "--position", "99", "-o", str(other)]
    assert main(argv) == 2
    assert "no model token at position 99" in capsys.readouterr().err
    assert not other.exists() and not history_path(other).exists()


def test_a_read_only_output_is_refused_before_the_model_works(use_fake, tmp_path, capsys):
    path = tmp_path / "s.json"
    _made_in_the_app(path, use_fake)
    data = path.read_bytes()
    path.chmod(0o444)
    scored: list[str] = []
    use_fake.score = lambda *a, **k: scored.append("scored")  # the model's work
    assert main(["score", "--text", "The cat", "-o", str(path)]) == 2
    err = capsys.readouterr().err
    assert "read-only" in err and "--readonly" not in err and err.count("\n") == 1
    assert scored == [] and path.read_bytes() == data
