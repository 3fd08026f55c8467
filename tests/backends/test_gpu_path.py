"""The GPU path, ready to run, tested here on the CPU (no GPU on these machines).

- A decode step waits for the device once: the step's numbers come off it in one copy
  (``backends/stepcopy.py``; five copies a step before), and they are the very numbers the
  per-tensor copies gave.
- The local backend's hot path never pins the CPU (no ``.cpu()`` or ``device="cpu"`` in it).
- ``benchmarks/gpu_check.py``: one line and exit 2 without CUDA; ``--device cpu`` runs end to
  end (CPU against CPU); its comparison fails a model whose numbers are off.
- ``benchmarks/run.py --device cuda`` without CUDA: one line, exit 2, nothing measured.
"""

from __future__ import annotations

import collections
import copy
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from loomtui.backends import kvcache, local, sampling, stepcopy
from loomtui.backends.base import Context, GenerationSettings

REPO = Path(__file__).resolve().parents[2]
GPU_CHECK = REPO / "benchmarks" / "gpu_check.py"
RUN = REPO / "benchmarks" / "run.py"
SYNCS = ("tolist", "item", "cpu", "__bool__", "__int__", "__float__", "__index__")


def _gpu_check_module():
    sys.path.insert(0, str(GPU_CHECK.parent))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(GPU_CHECK.parent))
    return gpu_check


def _copies_per_step(backend, settings, monkeypatch) -> list[int]:
    """Device-to-host copies (tolist/item/cpu/...) between one decode step's forward pass
    and the next, for every step of a generation."""
    counts: collections.Counter[str] = collections.Counter()
    at_forward: list[int] = []
    forward = type(backend)._forward

    def counted_forward(self, *a, **kw):
        at_forward.append(sum(counts.values()))
        return forward(self, *a, **kw)

    # On the class: undo must not leave a bound method in the (shared, session) backend.
    monkeypatch.setattr(type(backend), "_forward", counted_forward)
    for name in SYNCS:
        original = getattr(torch.Tensor, name)

        def counting(self, *a, _name=name, _original=original, **kw):
            counts[_name] += 1
            return _original(self, *a, **kw)

        monkeypatch.setattr(torch.Tensor, name, counting)
    try:
        for _ in backend.generate(Context("Are bugs"), settings):
            pass
    finally:
        monkeypatch.undo()
    # at_forward[0] is the prefill; each later forward pass ends one decode step.
    return [b - a for a, b in zip(at_forward[1:], at_forward[2:], strict=False)]


@pytest.mark.parametrize("n,temperature", [(1, 0.0), (1, 0.8), (3, 0.8)])
def test_a_decode_step_copies_off_the_device_once(tiny_backend, monkeypatch, n, temperature):
    settings = GenerationSettings(
        max_tokens=12, n=n, temperature=temperature, seed=4, logprobs_k=5, top_p=0.9
    )
    steps = _copies_per_step(tiny_backend, settings, monkeypatch)
    # Five before this change: three .tolist() (ids, logprobs, entropies) and two .cpu().
    assert len(steps) >= 4 and set(steps) == {1}, steps


def _old_step_numbers(table, chosen, chosen_lp, drawn_lp, entropy, top_v, top_i):
    """The loop's host reads as they were: one copy per tensor."""
    n = chosen.shape[0]
    c_ids = chosen.tolist()
    if drawn_lp is None:
        c_lp, s_lp = chosen_lp.tolist(), [None] * n
    else:
        c_lp, s_lp = torch.stack((chosen_lp, drawn_lp)).tolist()
    tops = stepcopy.packed_tops(
        table, top_i.to(torch.int32).cpu().numpy(), top_v.to(torch.float32).cpu().numpy()
    )
    return c_ids, c_lp, s_lp, entropy.tolist(), tops


def _numbers(backend, settings):
    out = []
    for ev in backend.generate(Context("The quick brown"), settings):
        if ev.token is not None:
            t = ev.token
            top = [(a.token_id, a.logprob) for a in t.top]
            out.append((ev.index, t.token_id, t.logprob, t.entropy, t.sampling_logprob, top))
    return out


@pytest.mark.parametrize("n,temperature", [(1, 0.0), (2, 0.7)])
def test_the_one_copy_gives_the_numbers_the_per_tensor_copies_gave(
    tiny_backend, monkeypatch, n, temperature
):
    settings = GenerationSettings(
        max_tokens=16, n=n, temperature=temperature, seed=11, top_p=0.9, logprobs_k=8
    )
    tiny_backend.kv.clear()
    new = _numbers(tiny_backend, settings)
    monkeypatch.setattr(local, "step_numbers", _old_step_numbers)
    tiny_backend.kv.clear()
    old = _numbers(tiny_backend, settings)
    assert len(new) == len(old) >= 16
    # The same float32 values, bit for bit (float32 carried by its bits, never rounded).
    assert new == old
    if temperature:
        assert all(row[4] is not None for row in new)


def test_the_hot_path_never_pins_the_cpu():
    hot = [
        local.LocalBackend._generate,
        local.LocalBackend._prefill,
        local.LocalBackend._forward,
        sampling.raw_numbers,
        sampling.draw,
        kvcache.PrefixCache.lookup,
        kvcache.slice_cache,
        kvcache.expand_cache,
    ]
    for fn in hot:
        source = inspect.getsource(fn)
        for pinned in (".cpu(", ".item(", ".tolist(", '"cpu"', "'cpu'"):
            assert pinned not in source, f"{fn.__qualname__} has {pinned}"
    for module in (local, kvcache, sampling, stepcopy):
        source = inspect.getsource(module)
        assert 'device="cpu"' not in source and 'torch.device("cpu")' not in source
    # The one copy of a step lives in step_numbers, once.
    assert inspect.getsource(stepcopy.step_numbers).count(".cpu()") == 1


def test_gpu_check_fails_a_model_whose_numbers_are_off(tiny_backend):
    gpu_check = _gpu_check_module()
    prompt = tiny_backend.tokenize("Are bugs real?")
    twin = copy.copy(tiny_backend)
    twin.model = copy.deepcopy(tiny_backend.model)
    twin.kv = kvcache.PrefixCache(config=twin.model.config)
    same = gpu_check.compare(tiny_backend, twin, prompt, 12, 1e-4)
    assert same["ok"] and same["max_abs_logprob"] <= 1e-6, same
    with torch.no_grad():
        twin.model.get_output_embeddings().weight.mul_(1.01)  # logits 1% larger
    off = gpu_check.compare(tiny_backend, twin, prompt, 12, 1e-4)
    assert not off["ok"] and off["max_abs_entropy"] > 1e-4, off


needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


def _run(*args, timeout=120):
    return subprocess.run(
        [sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )


@needs_no_cuda
def test_no_cuda_is_one_line_and_exit_2():
    proc = _run(GPU_CHECK)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "CUDA is not available" in proc.stderr
    assert "nothing was measured" in proc.stderr
    proc = _run(RUN, "--device", "cuda", "--only", "topk_overhead")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "CUDA is not available" in proc.stderr


@pytest.mark.slow
def test_gpu_check_runs_end_to_end_cpu_against_cpu():
    proc = _run(GPU_CHECK, "--device", "cpu", "--quick", "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] and len(result["targets"]) == 1
    target = result["targets"][0]
    assert (target["device"], target["dtype"]) == ("cpu", "float32")
    # CPU against CPU in float32: the same arithmetic, so the same numbers.
    for key in ("max_abs_logprob", "max_abs_entropy", "max_abs_top20", "decode_max_abs_error"):
        assert target[key] <= 1e-6, (key, target[key])
    assert target["decode_same_tokens"] == target["decode_tokens"] == result["tokens"]
    for row in (result["reference"], target):
        assert row["decode_tok_s_b1"] > 0 and row["decode_tok_s_n8"] > 0
        assert row["host_copies_per_step"] == 1
