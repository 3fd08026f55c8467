"""Reference numbers computed without loomtui: plain forward passes and log_softmax."""

from __future__ import annotations

import torch


def plain_logprobs(backend, ids: list[int]) -> torch.Tensor:
    """log_softmax of a full-context forward pass without any cache: (len(ids), vocab)."""
    with torch.no_grad():
        out = backend.model(input_ids=torch.tensor([ids]), use_cache=False)
    return torch.log_softmax(out.logits[0].double(), dim=-1)


def entropy_of(logp: torch.Tensor) -> float:
    p = logp.exp()
    return float(-(torch.where(p > 0, p * logp, torch.zeros_like(p))).sum())


def completions(events):
    """{index: (tokens, finish_reason)} from a stream of token events."""
    out: dict[int, list] = {}
    reasons: dict[int, str | None] = {}
    for ev in events:
        out.setdefault(ev.index, [])
        if ev.token is not None:
            assert ev.index not in reasons, "a token arrived after its completion finished"
            out[ev.index].append(ev.token)
        else:
            assert ev.index not in reasons, "a completion finished twice"
            reasons[ev.index] = ev.finish_reason
    return {i: (out[i], reasons.get(i)) for i in out}
