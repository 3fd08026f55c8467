"""Reference numbers computed without loomtui: plain forward passes and log_softmax."""

from __future__ import annotations

import math

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


def sampling_logprob(
    logp_row: torch.Tensor, token_id: int, temperature: float, top_p: float, top_k: int = 0
) -> float:
    """The token's logprob under the processed distribution, in float64 from a raw row:
    softmax(logits / T), cut to the top-k, then to the smallest most-likely set whose mass
    reaches top-p, renormalised. Independent of loomtui's sampler (plain Python on the
    sorted row)."""
    x = [float(v) / temperature for v in logp_row.double().tolist()]
    order = sorted(range(len(x)), key=lambda i: x[i], reverse=True)
    if top_k:
        order = order[:top_k]
    peak = x[order[0]]
    weights = [math.exp(x[i] - peak) for i in order]
    total = sum(weights)
    kept, mass = [], 0.0
    for i, w in zip(order, weights, strict=True):
        if mass >= top_p:
            break
        kept.append(i)
        mass += w / total
    assert token_id in kept, "the sampler drew a token outside the kept set"
    norm = peak + math.log(sum(math.exp(x[i] - peak) for i in kept))
    return x[token_id] - norm
