"""Shared fixtures: a tiny VLM built once per session and small pairing-style task/CoT datasets."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")

LETTERS = "ABCD"
BANDS = ("easy", "medium", "hard")
PALETTE = [
    (220, 40, 40),
    (40, 160, 60),
    (40, 80, 220),
    (230, 200, 40),
    (160, 60, 200),
    (40, 200, 200),
    (240, 140, 30),
    (120, 120, 120),
]


def write_pairing_examples(
    folder: str | Path,
    n: int = 8,
    *,
    seed: int = 0,
    size: int = 56,
    n_candidates: int = 4,
    with_completion: bool = False,
    name: str = "tasks.jsonl",
) -> Path:
    """Write ``n`` pairing-style task examples (query + candidates as small PNGs; the matching candidate
    has the query's colour) in the task-example format, optionally with a CoT completion; return the
    JSONL path. Bands cycle easy/medium/hard."""
    from PIL import Image

    from geor1.io import write_jsonl
    from geor1.records import user_prompt

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        colours = rng.sample(range(len(PALETTE)), n_candidates)
        answer = rng.randrange(n_candidates)
        images = []
        for j, colour in enumerate([colours[answer], *colours]):
            rel = f"images/ex{i}_{j}.png"
            shade = tuple(min(255, c + rng.randrange(0, 20)) for c in PALETTE[colour])
            Image.new("RGB", (size, size), shade).save(folder / rel)
            images.append(rel)
        labels = ["Query (satellite view):"] + [f"Candidate {LETTERS[j]}:" for j in range(n_candidates)]
        letter = LETTERS[answer]
        row = {
            "id": f"pair-{i}",
            "task": "pairing",
            "images": images,
            "prompt": user_prompt(
                "Which candidate shows the same place as the query?", len(images), labels=labels
            ),
            "solution": letter,
            "meta": {
                "band": BANDS[i % len(BANDS)],
                "lat": 10.0 + i,
                "lon": 20.0 - i,
                "query_view": "satellite",
            },
        }
        if with_completion:
            row["completion"] = [
                {
                    "role": "assistant",
                    "content": f"<think>Candidate {letter} has the colour of the query.</think>"
                    f"<answer>{letter}</answer>",
                }
            ]
        rows.append(row)
    path = folder / name
    write_jsonl(path, rows)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny Qwen2.5-VL saved with save_pretrained (built once per test session)."""
    from geor1.models import TinySpec, save_tiny_model

    return save_tiny_model(
        TinySpec(arch="qwen2_5_vl", seed=0), tmp_path_factory.mktemp("tiny") / "qwen2_5_vl"
    )


@pytest.fixture(scope="session")
def pairing_jsonl(tmp_path_factory) -> Path:
    """Twelve pairing task examples (GRPO format) with PNG images beside the JSONL."""
    return write_pairing_examples(tmp_path_factory.mktemp("pairing"), n=12, seed=1)


@pytest.fixture(scope="session")
def cot_jsonl(tmp_path_factory) -> Path:
    """Eight pairing CoT examples (SFT format: task example + assistant completion)."""
    return write_pairing_examples(tmp_path_factory.mktemp("cot"), n=8, seed=2, with_completion=True)


def parameters(model) -> dict:
    """Return a model's parameters by name, detached float32 copies on the CPU."""
    return {name: p.detach().float().cpu().clone() for name, p in model.named_parameters()}


def assert_saved_model_is_the_trained_one(out: Path, initial_dir: Path, trainer) -> None:
    """The full model saved in ``out`` equals the trainer's final weights and differs from the initial
    ones in most tensors (a model saved before training, or not at all, fails)."""
    import torch

    from geor1.models import load_model

    saved = parameters(load_model(out, dtype="float32"))
    initial = parameters(load_model(initial_dir, dtype="float32"))
    final = parameters(trainer.model)
    assert saved.keys() == final.keys() == initial.keys()
    assert all(torch.equal(saved[n], final[n]) for n in saved), (
        "saved weights are not the trainer's final ones"
    )
    changed = [n for n in saved if not torch.equal(saved[n], initial[n])]
    assert len(changed) > len(saved) // 2, f"only {len(changed)} of {len(saved)} tensors changed in training"


@pytest.fixture
def check_saved_model():
    """``check(out, initial_dir, trainer)``: the model saved in ``out`` is the trainer's trained model."""
    return assert_saved_model_is_the_trained_one


class QuietRunCheck:
    """An extra training callback that records each step, and the check that a run given it with
    ``quiet=True`` called it on every step while the Trainer printed no log record."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        steps: list[int] = []

        class StepRecorder(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                steps.append(state.global_step)

        self.steps = steps
        self.callback = StepRecorder()

    def check(self, trainer, printed: str, logged_key: str, n_steps: int = 2) -> None:
        """Assert the callback saw steps 1..n_steps and ``printed`` holds no ``'logged_key'`` record."""
        from transformers.trainer_callback import PrinterCallback

        assert self.steps == list(range(1, n_steps + 1))
        assert not any(isinstance(c, PrinterCallback) for c in trainer.callback_handler.callbacks)
        assert f"'{logged_key}'" not in printed


@pytest.fixture
def quiet_run() -> QuietRunCheck:
    """A fresh :class:`QuietRunCheck` (pass ``.callback`` to the run, then call ``.check``)."""
    return QuietRunCheck()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say loudly, at the end of the run, when the browser tests were skipped for want of a browser."""
    skipped = [
        r for r in terminalreporter.stats.get("skipped", []) if "chromium" in str(getattr(r, "longrepr", ""))
    ]
    if skipped:
        terminalreporter.write_sep(
            "!",
            f"{len(skipped)} browser test(s) SKIPPED: Debian chromium + chromium-driver are not installed "
            "(make browser installs them; CI=true fails these tests instead)",
            red=True,
            bold=True,
        )
