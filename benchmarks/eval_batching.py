"""Batched HF generation speed-up on the tiny model: examples/s at batch 1 vs batch 16, same outputs.

Target (issue 5): batch 16 gives >= 4x the examples/s of batch 1, and greedy outputs are identical.

    python benchmarks/eval_batching.py [--model DIR] [--n 32] [--max-new-tokens 32]

Without --model a tiny Qwen2.5-VL is built in a temporary folder. Every example has one image and a
geolocation question; generation runs to exactly --max-new-tokens so both settings do the same work.
A freshly initialised tiny model answers every prompt with the same token, which would make the
equality check empty, so its matrices are re-drawn with std --reinit-std (seeded; 0 keeps the weights):
then every prompt gets its own greedy output and a padding or position bug shows as a mismatch.
Prints both rates, their ratio and the number of mismatching outputs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_examples(folder: Path, n: int, size: int) -> list:
    """Return ``n`` one-image geolocation examples with distinct random images and prompt lengths."""
    import numpy as np
    from PIL import Image

    from geor1.eval.types import EvalExample
    from geor1.records import user_prompt

    rng = np.random.default_rng(0)
    examples = []
    for i in range(n):
        path = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
        question = "Where was this image taken?" + " Think about the terrain." * (i % 4)
        examples.append(EvalExample(f"ex{i}", user_prompt(question, 1), [str(path)], "(0, 0)"))
    return examples


def reinitialise(net, std: float, seed: int = 0) -> None:
    """Re-draw every weight matrix of ``net`` from N(0, std²) (seeded), in place."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=generator) * std)


def pass_rate(backend, examples, sampling, batch_size: int) -> tuple[float, list[str]]:
    """Return ``(examples per second, outputs)`` of one generation pass at ``batch_size``."""
    backend.batch_size = batch_size
    start = time.perf_counter()
    outputs = backend.generate(examples, sampling)
    return len(examples) / (time.perf_counter() - start), outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="Model folder (default: build a tiny one).")
    parser.add_argument("--n", type=int, default=32, help="Examples per pass.")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=56)
    parser.add_argument("--reinit-std", type=float, default=0.3, help="Re-draw weights (0 = keep them).")
    parser.add_argument("--repeats", type=int, default=3, help="Passes per setting; the best is kept.")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a shared CPU multi-thread timings are erratic).",
    )
    args = parser.parse_args()

    import torch

    from geor1.eval.backends.hf import HFBackend
    from geor1.eval.types import SamplingConfig

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model
        if model is None:
            from geor1.models import TinySpec, save_tiny_model

            model = save_tiny_model(TinySpec(arch="qwen2_5_vl", seed=0), tmp / "tiny")
        examples = make_examples(tmp, args.n, args.image_size)
        backend = HFBackend(str(model), batch_size=1)
        if args.reinit_std > 0:
            reinitialise(backend.net, args.reinit_std)
        # min_new_tokens: every row decodes the same number of steps in both settings
        backend.net.generation_config.min_new_tokens = args.max_new_tokens
        sampling = SamplingConfig(temperature=0.0, max_new_tokens=args.max_new_tokens)
        for size in (1, 16):  # warm-up: allocations, first-call costs
            pass_rate(backend, examples[:size], sampling, size)
        # Interleaved passes, best of each: on a shared machine the best pass is the least disturbed one.
        rate1 = rate16 = 0.0
        for _ in range(args.repeats):
            r, out1 = pass_rate(backend, examples, sampling, 1)
            rate1 = max(rate1, r)
            r, out16 = pass_rate(backend, examples, sampling, 16)
            rate16 = max(rate16, r)
    mismatches = sum(a != b for a, b in zip(out1, out16, strict=True))
    ratio = rate16 / rate1
    print(
        f"model: {model}  examples: {args.n}  max_new_tokens: {args.max_new_tokens}  torch threads: {torch.get_num_threads()}"
    )
    print(f"batch 1 : {rate1:7.2f} examples/s")
    print(f"batch 16: {rate16:7.2f} examples/s")
    print(f"speed-up: {ratio:.2f}x (target >= 4x) {'OK' if ratio >= 4 else 'BELOW TARGET'}")
    print(
        f"greedy output mismatches batch 1 vs 16: {mismatches}/{args.n}  distinct outputs: {len(set(out1))}"
    )


if __name__ == "__main__":
    main()
