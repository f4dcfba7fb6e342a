"""Seconds per GRPO step: geor1's wrapper vs a bare TRL ``GRPOTrainer`` on the same tiny model and data.

Target (issue 3): the wrapper adds ≤ 5 % per step.

    python benchmarks/grpo_step.py [--model DIR] [--steps 12] [--warmup 2] [--repeats 3]

Both sides get the same model folder, the same dataset (pairing-style examples: a query and four
candidate PNGs), the same reward functions (geor1's accuracy, format, length, repetition), the same
``GRPOConfig`` and seed, so they generate the same completions. The wrapper side is
``geor1.train.grpo.build_grpo_trainer`` (config checks, processor shim with a pixel budget, reward
registry, metrics.jsonl and rank-marker callbacks); the bare side is ``trl.GRPOTrainer`` with
``AutoProcessor``. Runs alternate (wrapper, bare, bare, wrapper, …) so machine load drifts and run
order hit both; the first ``--warmup`` steps of each run are dropped. Prints the median wall and CPU
seconds per step of each side and the overhead in percent. On a shared machine prefer ``--threads 1``
(idle-spinning OpenMP threads inflate both figures) and several repeats.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from transformers import PrinterCallback, TrainerCallback  # noqa: E402

REWARDS = ["accuracy", "format", "length", "repetition"]


def write_examples(folder: Path, n: int, size: int) -> Path:
    """Write ``n`` pairing-style task examples with PNG images; return the JSONL path."""
    from PIL import Image

    from geor1.io import write_jsonl
    from geor1.records import user_prompt

    rng = random.Random(0)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        colours = [tuple(rng.randrange(256) for _ in range(3)) for _ in range(4)]
        answer = rng.randrange(4)
        images = []
        for j, colour in enumerate([colours[answer], *colours]):
            rel = f"images/{i}_{j}.png"
            Image.new("RGB", (size, size), colour).save(folder / rel)
            images.append(rel)
        labels = ["Query (satellite view):"] + [f"Candidate {c}:" for c in "ABCD"]
        rows.append(
            {
                "id": str(i),
                "task": "pairing",
                "images": images,
                "prompt": user_prompt("Which candidate shows the query's place?", 5, labels=labels),
                "solution": "ABCD"[answer],
                "meta": {"band": "easy"},
            }
        )
    path = folder / "tasks.jsonl"
    write_jsonl(path, rows)
    return path


class StepTimer(TrainerCallback):
    """Record the wall and CPU time of every optimisation step and the logged completion lengths."""

    def __init__(self):
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.lengths: list[float] = []
        self._start = (0.0, 0.0)

    def on_step_begin(self, args, state, control, **kwargs):
        self._start = (time.perf_counter(), time.process_time())

    def on_step_end(self, args, state, control, **kwargs):
        self.wall.append(time.perf_counter() - self._start[0])
        self.cpu.append(time.process_time() - self._start[1])

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "completions/mean_length" in logs:
            self.lengths.append(float(logs["completions/mean_length"]))


def mapping_for(model: Path, data: Path, out: Path, steps: int, max_new: int) -> dict:
    """Return the run config shared by both sides."""
    return {
        "model_name_or_path": str(model),
        "train_file": [str(data)],
        "output_dir": str(out),
        "reward_funcs": REWARDS,
        "reward_options": {"length": {"max_len": max_new}},
        "use_cpu": True,
        "bf16": False,
        "gradient_checkpointing": False,
        "per_device_train_batch_size": 8,
        "num_generations": 4,
        "max_completion_length": max_new,
        "learning_rate": 1e-4,
        "beta": 0.0,
        "loss_type": "grpo",
        "max_steps": steps,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "seed": 0,
        "disable_tqdm": True,
    }


def run_wrapper(mapping: dict) -> StepTimer:
    """Return the step timings of geor1's GRPO wrapper."""
    from geor1.train.config import build_configs
    from geor1.train.grpo import build_grpo_trainer
    from geor1.train.run import run_callbacks

    script, model_args, args = build_configs("grpo", mapping)
    timer = StepTimer()
    trainer = build_grpo_trainer(
        script, model_args, args, callbacks=[*run_callbacks(Path(args.output_dir)), timer]
    )
    trainer.remove_callback(PrinterCallback)  # disable_tqdm swaps the bar for a printer of every log
    trainer.train()
    return timer


def run_bare(mapping: dict) -> StepTimer:
    """Return the step timings of a bare ``trl.GRPOTrainer`` with the same settings."""
    from transformers import AutoProcessor
    from trl import GRPOConfig, GRPOTrainer

    import geor1.models  # noqa: F401  (the tiny model's processor class must be registered)
    from geor1.rewards import build_reward_funcs
    from geor1.train.data import load_examples

    keys = {k: v for k, v in mapping.items() if k not in {"model_name_or_path", "train_file", "reward_funcs"}}
    keys.pop("reward_options")
    args = GRPOConfig(**keys)
    processor = AutoProcessor.from_pretrained(mapping["model_name_or_path"], padding_side="left")
    rewards = build_reward_funcs(
        REWARDS, length={"max_len": mapping["max_completion_length"]}, tokenizer=processor
    )
    timer = StepTimer()
    trainer = GRPOTrainer(
        model=mapping["model_name_or_path"],
        reward_funcs=rewards,
        args=args,
        train_dataset=load_examples(mapping["train_file"], "grpo"),
        processing_class=processor,
        callbacks=[timer],
    )
    trainer.remove_callback(PrinterCallback)  # disable_tqdm swaps the bar for a printer of every log
    trainer.train()
    return timer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="model folder (default: build a tiny Qwen2.5-VL)")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    cli = parser.parse_args()

    import torch

    if cli.threads:
        torch.set_num_threads(cli.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = cli.model
        if model is None:
            from geor1.models import TinySpec, save_tiny_model

            model = save_tiny_model(TinySpec(), tmp / "tiny")
        data = write_examples(tmp / "data", n=64, size=cli.image_size)
        wall: dict[str, list[float]] = {"wrapper": [], "bare": []}
        cpu: dict[str, list[float]] = {"wrapper": [], "bare": []}
        lengths: dict[str, list[float]] = {"wrapper": [], "bare": []}
        for repeat in range(cli.repeats):
            order = [("wrapper", run_wrapper), ("bare", run_bare)]
            for side, runner in order if repeat % 2 == 0 else order[::-1]:
                out = tmp / f"{side}{repeat}"
                timer = runner(mapping_for(model, data, out, cli.steps, cli.max_new_tokens))
                wall[side].extend(timer.wall[cli.warmup :])
                cpu[side].extend(timer.cpu[cli.warmup :])
                lengths[side].extend(timer.lengths)
                print(
                    f"run {repeat + 1}/{cli.repeats} {side:7s}: {statistics.median(timer.wall[cli.warmup :]):.4f} "
                    f"s/step wall, {statistics.median(timer.cpu[cli.warmup :]):.4f} s/step CPU (medians)"
                )
    print(f"torch threads: {torch.get_num_threads()}, steps/run: {cli.steps} (first {cli.warmup} dropped)")
    same = lengths["wrapper"] == lengths["bare"]
    print(f"same completion lengths on both sides: {same}")
    for name, table in (("wall", wall), ("CPU", cpu)):
        ours, bare = statistics.median(table["wrapper"]), statistics.median(table["bare"])
        print(
            f"{name:4s} s/step  geor1 wrapper {ours:.4f} | bare TRL {bare:.4f} | overhead "
            f"{100 * (ours - bare) / bare:+.1f} % (target <= 5 %)"
        )


if __name__ == "__main__":
    main()
