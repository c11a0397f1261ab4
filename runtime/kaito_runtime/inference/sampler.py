"""Pick the next token of every row of a batch, each row with its own ``Sampling`` settings.

The same processors ``generate`` would apply, in its order (penalties and constraints, then temperature, top-k,
top-p, typical-p), vectorised where the settings allow it and per row where they cannot be. A seeded row samples
from its own ``torch.Generator``, so its tokens do not depend on the requests it shares a batch with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .generation import Sampling


@dataclass
class RowState:
    """What the sampler needs to know about one row."""

    sampling: Sampling
    history: list[int]  # prompt and generated ids, for repetition penalty, n-grams and bad-word prefixes
    eos_ids: frozenset[int]
    max_new_tokens: int
    generated: int = 0
    generator: torch.Generator | None = field(default=None)

    def __post_init__(self) -> None:
        if self.sampling.seed is not None and not self.sampling.greedy:
            self.generator = torch.Generator().manual_seed(self.sampling.seed)
        sampling = self.sampling
        self.constrained = (sampling.repetition_penalty != 1.0 or sampling.no_repeat_ngram_size > 0
                            or bool(sampling.bad_words_ids) or bool(sampling.forced_eos_token_ids))


def next_tokens(logits: torch.Tensor, rows: list[RowState]) -> list[int]:
    """One token per row from ``logits`` ``[rows, vocab]``."""
    scores = _finite(logits.float())
    too_early = [(i, eos) for i, row in enumerate(rows) if row.generated < row.sampling.min_new_tokens
                 for eos in row.eos_ids]
    if too_early:
        scores[tuple(torch.tensor(too_early).T)] = float("-inf")  # min_new_tokens: no end of sequence yet
    for index, row in enumerate(rows):
        if row.constrained:
            _constrain(scores[index], row)
    greedy = [i for i, row in enumerate(rows) if row.sampling.greedy]
    sampled = [i for i, row in enumerate(rows) if not row.sampling.greedy]
    chosen = torch.empty(len(rows), dtype=torch.long)
    if greedy:
        chosen[greedy] = scores[greedy].argmax(dim=-1)
    if sampled:
        chosen[sampled] = _sample(_warp(scores[sampled], [rows[i].sampling for i in sampled]),
                                  [rows[i] for i in sampled])
    return chosen.tolist()


def _finite(scores: torch.Tensor) -> torch.Tensor:
    """NaN and +inf logits (a broken model or adapter) become numbers, so that sampling cannot fail on them."""
    return torch.nan_to_num(scores, nan=0.0, posinf=torch.finfo(scores.dtype).max, neginf=float("-inf"))


def _constrain(scores: torch.Tensor, row: RowState) -> None:
    """The per-row processors, in place on one row's scores."""
    sampling = row.sampling
    if sampling.repetition_penalty != 1.0:
        seen = torch.tensor(sorted(set(row.history)), dtype=torch.long)
        picked = scores[seen]
        scores[seen] = torch.where(picked < 0, picked * sampling.repetition_penalty,
                                   picked / sampling.repetition_penalty)
    banned = _banned_ngrams(row.history, sampling.no_repeat_ngram_size) | _banned_words(row.history, sampling)
    if banned:
        scores[torch.tensor(sorted(banned), dtype=torch.long)] = float("-inf")
    forced = _forced(row)
    if forced:
        keep = scores[list(forced)].clone()
        scores.fill_(float("-inf"))
        scores[list(forced)] = keep


def _banned_ngrams(history: list[int], size: int) -> set[int]:
    """Tokens that would repeat an n-gram of ``size`` already in ``history`` (``no_repeat_ngram_size``)."""
    if size <= 0 or len(history) + 1 < size:
        return set()
    prefix = tuple(history[len(history) - size + 1:])
    return {history[i + size - 1] for i in range(len(history) - size + 1)
            if tuple(history[i:i + size - 1]) == prefix}


def _banned_words(history: list[int], sampling: Sampling) -> set[int]:
    """Last tokens of ``bad_words_ids`` sequences whose other tokens end ``history``."""
    return {word[-1] for word in sampling.bad_words_ids
            if len(word) == 1 or tuple(history[-(len(word) - 1):]) == word[:-1]}


def _forced(row: RowState) -> tuple[int, ...]:
    if row.generated == row.max_new_tokens - 1 and row.sampling.forced_eos_token_ids:
        return row.sampling.forced_eos_token_ids
    return ()


def _warp(scores: torch.Tensor, settings: list[Sampling]) -> torch.Tensor:
    """Temperature, top-k, top-p and typical-p, each row with its own values; returns probabilities."""
    temperature = torch.tensor([s.temperature for s in settings], dtype=scores.dtype).unsqueeze(1)
    scores = scores / temperature
    vocab = scores.shape[-1]
    top_k = torch.tensor([min(s.top_k, vocab) if s.top_k > 0 else vocab for s in settings]).unsqueeze(1)
    ordered, order = scores.sort(dim=-1, descending=True)
    rank = torch.arange(vocab).unsqueeze(0)
    drop = rank >= top_k
    top_p = torch.tensor([s.top_p for s in settings], dtype=scores.dtype).unsqueeze(1)
    mass_before = ordered.masked_fill(drop, float("-inf")).softmax(dim=-1).cumsum(dim=-1) - \
        ordered.masked_fill(drop, float("-inf")).softmax(dim=-1)
    drop |= (mass_before >= top_p) & (rank > 0)
    scores = scores.scatter(1, order, ordered.masked_fill(drop, float("-inf")))
    for index, sampling in enumerate(settings):
        if sampling.typical_p < 1.0:
            scores[index] = _typical(scores[index], sampling.typical_p)
    return scores.softmax(dim=-1)


def _typical(scores: torch.Tensor, mass: float) -> torch.Tensor:
    """Locally typical sampling (transformers' ``TypicalLogitsWarper``) for one row."""
    log_probs = scores.log_softmax(dim=-1)
    probs = log_probs.exp()
    entropy = -torch.nansum(log_probs * probs)
    shifted = (-log_probs - entropy).abs()
    order = shifted.argsort()
    cumulative = probs[order].cumsum(dim=-1)
    last = int((cumulative < mass).sum().clamp(max=len(order) - 1))
    drop = torch.ones_like(scores, dtype=torch.bool)
    drop[order[: last + 1]] = False
    return scores.masked_fill(drop, float("-inf"))


def _sample(probs: torch.Tensor, rows: list[RowState]) -> torch.Tensor:
    broken = ~torch.isfinite(probs).all(dim=-1) | (probs.sum(dim=-1) <= 0)  # every token banned: pick any
    probs[broken] = 1.0 / probs.shape[-1]
    shared = [i for i, row in enumerate(rows) if row.generator is None]
    chosen = torch.empty(len(rows), dtype=torch.long)
    if shared:
        chosen[shared] = torch.multinomial(probs[shared], 1).squeeze(1)
    for index, row in enumerate(rows):
        if row.generator is not None:
            chosen[index] = torch.multinomial(probs[index], 1, generator=row.generator)[0]
    return chosen
