"""Sampling with one random stream per example for batched 🤗 generation.

``torch.manual_seed`` before ``generate`` gives every batch of a run the same stream when batches are
generated one call at a time, and ties a row's sample to its batch-mates. Here decoding runs "greedy"
over scores that carry Gumbel noise drawn from each row's own generator, seeded from the run seed and
the example's content (``geor1.eval.fingerprint.sampling_seed``): the argmax of (log-probabilities +
Gumbel noise) is an exact draw from the softmax (Gumbel-max trick), so an example's sample depends only
on the seed and its input — not on the batch size, its batch-mates, or on which examples a resumed run
still had to generate.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LogitsProcessor, LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper


class PerRowGumbelNoise(LogitsProcessor):
    """Add Gumbel noise to each row's scores from that row's own ``torch.Generator``."""

    def __init__(self, seeds: Sequence[int], device: str | torch.device):
        self.generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Return ``scores`` plus one row of Gumbel(0, 1) noise per generator."""
        vocab = scores.shape[-1]
        uniform = torch.stack(
            [
                torch.rand(vocab, generator=g, device=scores.device, dtype=torch.float32)
                for g in self.generators
            ]
        )
        tiny = torch.finfo(torch.float32).tiny
        gumbel = -torch.log(-torch.log(uniform.clamp_(min=tiny, max=1.0 - 1e-7)))
        return scores + gumbel.to(scores.dtype)


def per_example_sampler(
    seeds: Sequence[int], temperature: float, top_p: float, device: str | torch.device
) -> LogitsProcessorList:
    """Return logits processors that make greedy ``generate`` sample row i at ``temperature`` with
    nucleus ``top_p`` from a stream seeded with ``seeds[i]`` (pass with ``do_sample=False``; no top-k,
    like the HTTP and vLLM backends)."""
    processors: list[LogitsProcessor] = [TemperatureLogitsWarper(temperature)]
    if top_p < 1.0:
        processors.append(TopPLogitsWarper(top_p))
    processors.append(PerRowGumbelNoise(seeds, device))
    return LogitsProcessorList(processors)
