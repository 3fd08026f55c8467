"""What loads can be saved again, and only files are read as sessions.

Values JSON allows but loomtui could never write back (``1e999``, ``NaN``, a key twice) are
refused at load with their JSON path; a vocabulary row's text always agrees with its bytes;
FIFOs, devices, directories and links to them are refused at once, before any read."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loomtui.cli import main
from loomtui.core import sessionfile
from loomtui.core.errors import SessionFileError
from loomtui.core.sessionfile import dumps_session, load_session, loads_session, parse_json
from loomtui.core.strictjson import StrictJSONError, loads_strict
from loomtui.core.tokens import Token
from loomtui.core.tree import Session

REPO = Path(__file__).resolve().parents[2]


def _base() -> dict:
    s = Session.new("Say:")
    leaf = s.add_child(
        s.current_id, tokens=[Token("Hi", b"Hi", 5, -0.5), Token(" you", b" you", 6, -1)]
    )
    s.current_id = leaf.id  # the branch the verbs show and export
    return json.loads(dumps_session(s))


@contextmanager
def _deadline(seconds: float):
    """Fail (instead of hanging the run) when the block takes longer than ``seconds``: the
    alarm interrupts a blocked open() or read() too."""

    def expire(signum, frame):
        raise TimeoutError(f"took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------------------- strict JSON
@pytest.mark.parametrize(
    ("text", "path", "problem"),
    [
        ('{"a": [1, 2, {"b": 1e999}]}', "a[2].b", "1e999 is not a finite number"),
        ('{"a": -1E+400}', "a", "-1E+400 is not a finite number"),
        ('[0, [NaN]]', "[1][0]", "NaN is not a finite number"),
        ('{"x y": {"z": Infinity}}', '["x y"].z', "Infinity is not a finite number"),
        ('{"a": 1, "a": 2}', "top level", "duplicate key 'a'"),
        ('{"n": [{"id": 1}, {"id": 2, "v": 0, "id": 3}]}', "n[1]", "duplicate key 'id'"),
    ],
)
def test_refused_values_are_named_by_their_path(text: str, path: str, problem: str) -> None:
    with pytest.raises(StrictJSONError) as info:
        loads_strict(text)
    assert (info.value.path, info.value.problem) == (path, problem)
    with pytest.raises(SessionFileError) as err:
        parse_json(text.encode(), "f.json")
    assert str(err.value) == f"f.json: {path}: {problem}"


def test_the_first_refused_value_in_document_order_is_named() -> None:
    with pytest.raises(StrictJSONError, match=r"^a\[1\]: 1e999"):
        loads_strict('{"a": [0, 1e999, NaN], "b": {"k": 1, "k": 2}}')


def test_finite_numbers_big_integers_and_underflow_load() -> None:
    value = loads_strict('{"a": 1.5e308, "b": 1e-999, "c": 123456789012345678901234567890}')
    assert value == {"a": 1.5e308, "b": 0.0, "c": 123456789012345678901234567890}


def test_a_refused_value_deep_in_a_deep_document_is_named() -> None:
    # Past the default recursion limit: parsed on the big-stack thread, walked iteratively.
    depth = 5000
    text = '{"k": ' * depth + "NaN" + "}" * depth
    with pytest.raises(SessionFileError) as err:
        parse_json(text.encode(), "deep.json")
    assert str(err.value) == "deep.json: " + "k" + ".k" * (depth - 1) + ": NaN is not a finite number"


_BAD_LITERALS = ["1e999", "-1e999", "1E400", "NaN", "Infinity", "-Infinity", "9" * 400 + ".0"]
_json_leaf = (
    st.sampled_from(["null", "true", "0", "-1.5", "1e-999", '"s"', "12345678901234567890"])
    | st.sampled_from(_BAD_LITERALS)
)


def _obj(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in pairs) + "}"


_json_text = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]")
    | st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), inner), max_size=4).map(_obj),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(meta=_json_text, node_meta=_json_text)
def test_whatever_loads_can_be_saved(meta: str, node_meta: str) -> None:
    """Odd values anywhere a session holds free-form JSON: a load either refuses the file
    naming the value, or gives a session that saves (and loads back the same)."""
    data = _base()
    text = json.dumps({**data, "meta": "@META@"})
    text = text.replace('"@META@"', meta)
    text = text.replace('"origin": "model"', f'"origin": "model", "meta": {node_meta}', 1)
    try:
        session = loads_session(text.encode(), "odd.json")
    except SessionFileError as exc:
        assert str(exc).startswith("odd.json: ")
        assert "not a finite number" in str(exc) or "duplicate key" in str(exc) or (
            "meta is not an object" in str(exc)
        )
        return
    saved = dumps_session(session)  # never "Out of range float values are not JSON compliant"
    assert dumps_session(loads_session(saved, "again.json")) == saved


# --------------------------------------------------------------------------- vocabulary rows
def _with_row(row: list) -> bytes:
    data = _base()
    data["vocab"][0] = row
    return json.dumps(data).encode()


def test_a_row_whose_text_disagrees_with_its_bytes_shows_its_bytes(tmp_path: Path, capsys) -> None:
    """Bytes are the truth: the text is derived from them, so show and export agree."""
    path = tmp_path / "lying.json"
    path.write_bytes(_with_row(["Hi", b"evil\x1b]0;owned\x07".hex(), 5]))
    session = load_session(path)
    leaf = session.node(session.current_id)
    assert leaf.tokens is not None
    assert (leaf.tokens[0].text, leaf.tokens[0].bytes) == ("evil\x1b]0;owned\x07", b"evil\x1b]0;owned\x07")
    assert main(["show", str(path), "--no-color", "--no-legend"]) == 0
    shown = capsys.readouterr().out
    out = tmp_path / "out.txt"
    assert main(["export", str(path), "-o", str(out)]) == 0
    exported = out.read_bytes().decode()
    assert "Hi" not in shown and "evil" in shown
    assert exported == "Say:evil\x1b]0;owned\x07 you"
    # What was shown is the exported text, its control characters made visible.
    assert shown.startswith("Say:evil") and "\x1b" not in shown
    # Saved again, the row is written consistently (no hex needed any more).
    assert json.loads(dumps_session(session))["vocab"][0] == ["evil\x1b]0;owned\x07", None, 5]


def test_a_row_of_unfinished_utf8_keeps_its_label() -> None:
    # Partial UTF-8 reaches loomtui as U+FFFD, "bytes:\\xe2" or "": the text is a label only.
    for label in ("\ufffd", "bytes:\\xe2\\x80", ""):
        session = loads_session(_with_row([label, "e280", 5]), "partial.json")
        token = session.node(session.current_id).tokens[0]
        assert (token.text, token.bytes) == (label, b"\xe2\x80")


# --------------------------------------------------------------------------- files that are not files
def _special_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    out: dict[str, tuple[Path, str]] = {}
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    out["fifo"] = (fifo, "is a FIFO")
    for dev in ("zero", "urandom", "null"):
        link = tmp_path / f"{dev}.json"
        link.symlink_to(f"/dev/{dev}")
        out[dev] = (link, "is a device")
    link = tmp_path / "fifo-link.json"
    link.symlink_to(fifo)
    out["fifo-link"] = (link, "is a FIFO")
    folder = tmp_path / "folder.json"
    folder.mkdir()
    out["directory"] = (folder, "is a directory")
    sock_path = tmp_path / "s.json"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    out["socket"] = (sock_path, "is a socket")
    return out


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("kind", ["fifo", "zero", "urandom", "null", "fifo-link", "directory", "socket"])
def test_a_file_that_is_not_a_file_is_refused_at_once(kind: str, tmp_path: Path) -> None:
    path, expect = _special_files(tmp_path)[kind]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with _deadline(5), pytest.raises(SessionFileError) as err:
        load_session(path)
    assert time.perf_counter() - start < 1.0
    assert str(err.value) == f"{path}: {expect}" + str(err.value)[len(f"{path}: {expect}") :]
    assert "\n" not in str(err.value)
    # Nothing was read: no megabytes of zeros in memory.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000


class _StatSaysRegular:
    """``os`` as seen by the loader, with ``stat`` answering as for a regular file: a FIFO
    put in place between the check and the open."""

    def __init__(self, regular: Path) -> None:
        self._regular = regular

    def stat(self, path, *args, **kwargs):
        return os.stat(self._regular)

    def __getattr__(self, name: str):
        return getattr(os, name)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_swapped_in_after_the_check_is_refused_from_the_open_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    regular = tmp_path / "ok.json"
    regular.write_bytes(b"{}")
    fifo = tmp_path / "swapped.json"
    os.mkfifo(fifo)
    monkeypatch.setattr(sessionfile, "os", _StatSaysRegular(regular))
    start = time.perf_counter()
    with _deadline(5), pytest.raises(SessionFileError, match="is a FIFO"):
        load_session(fifo)
    assert time.perf_counter() - start < 1.0


def test_the_size_cap_follows_from_the_memory_a_load_may_take() -> None:
    cap = sessionfile.MAX_FILE_BYTES
    assert cap * sessionfile.LOAD_MEMORY_FACTOR <= sessionfile.MAX_LOAD_MEMORY
    assert cap >= 100 << 20  # still room for ~500,000 tokens with 20 alternatives each


def test_an_oversized_file_is_refused_naming_its_size_and_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * (3 << 20))
    monkeypatch.setenv("LOOMTUI_MAX_SESSION_MB", "2")
    with pytest.raises(SessionFileError) as err:
        load_session(path)
    assert "too large (3.0 MiB; the limit is 2.0 MiB" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM")
def test_the_worst_case_memory_factor_holds() -> None:
    """The cap's reasoning: parsing the worst file (empty objects) peaks below
    LOAD_MEMORY_FACTOR times its size (measured in a fresh process)."""
    # The file is written here, so the measuring process's peak before the load is only its
    # imports (building the file there would set a peak the load never passes).
    code = (
        "import os, sys\n"
        "from loomtui.core import sessionfile\n"
        "size = os.path.getsize(sys.argv[1])\n"
        "def hwm():\n"
        "    # VmHWM is this process's own peak (ru_maxrss keeps the forking parent's)\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            return int(line.split()[1])\n"
        "base = hwm()\n"
        "try:\n"
        "    sessionfile.load_session(sys.argv[1])\n"
        "except sessionfile.SessionFileError:\n"
        "    pass\n"
        "peak = hwm()\n"
        "print((peak - base) * 1024 / size, sessionfile.LOAD_MEMORY_FACTOR)\n"
    )
    target = Path(os.environ.get("TMPDIR", "/tmp")) / f"loomtui-worst-{os.getpid()}.json"
    target.write_bytes(b"[" + b",".join([b"{}"] * 2_000_000) + b"]")
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, str(target)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    finally:
        target.unlink(missing_ok=True)
    assert proc.returncode == 0, proc.stderr
    ratio, factor = proc.stdout.split()
    assert 10 < float(ratio) <= float(factor)


def test_a_regular_file_behind_a_link_still_opens(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_bytes(dumps_session(Session.new("hello")))
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert load_session(link).node(load_session(link).current_id).plain == "hello"
    assert stat.S_ISLNK(os.lstat(link).st_mode)
