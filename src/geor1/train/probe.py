"""Measured training steps at real shapes, through geor1's own trainer builders.

The stages are what a paper run does once per step, on one multi-image pairing prompt:

- ``sft-full``: SFT forward + backward of every weight (``configs/sft_paper.yaml``); on a CPU it steps
  with plain SGD so no optimizer state is allocated (the memory measured is the forward + backward's),
  on CUDA with the paper's optimizer;
- ``sft-lora``: the same with LoRA adapters on the paper's target modules (``PAPER_LORA_TARGET_MODULES``:
  the decoder's attention and MLP projections, the vision tower frozen);
- ``grpo``: one GRPO step (``configs/grpo_paper.yaml``: β = 0.04, the reference being the LoRA model with
  its adapters off) with ``num_generations`` short sampled completions: generation, rewards, reference
  and policy log-probabilities, backward, optimizer step;
- ``grpo-full``: the same with full fine-tuning (the paper's setting; the reference is a copy of the
  model), for a GPU.

Each stage builds its trainer with ``build_sft_trainer`` / ``build_grpo_trainer`` from the paper config
(model path, data file, pixel budget from that config unless overridden, one step, no saving), so the
processor, the dataset reader and TRL's collator are the ones a real run uses. It reports the sequence
length and visual tokens of the collated batch, the step's seconds and tokens/s, the peak memory (peak
RSS on CPU, peak allocated CUDA memory on a GPU), and an image-token audit: on every forward that carries
images, the number of ``<|image_pad|>`` tokens in ``input_ids`` against the features the vision tower
returned (the classic Qwen2.5-VL GRPO failure is a mismatch between the two).

``python -m geor1.train.probe STAGE --model DIR --data FILE --out DIR --json RESULT`` runs one stage in its
own process (so each stage's peak memory is its own); ``benchmarks/real_size.py`` and
``benchmarks/gpu_check.py`` drive it.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from geor1.parsing import option_letters

STAGES: tuple[str, ...] = ("sft-full", "sft-lora", "grpo", "grpo-full")
CONFIGS = Path(__file__).resolve().parents[3] / "configs"
LETTERS = option_letters(8)


@dataclass
class StageResult:
    """What one stage measured."""

    stage: str
    device: str
    dtype: str
    setup_seconds: float = 0.0  # building the trainer: loading the model, processor and data
    step_seconds: float = 0.0  # the training step (forward + backward [+ generation for GRPO])
    step_cpu_seconds: float = 0.0  # CPU time of this process during the step (all threads)
    all_step_seconds: list[float] = field(default_factory=list)
    generate_seconds: float = 0.0  # GRPO: inside model.generate during the measured step
    peak_memory_bytes: int = 0  # peak RSS (CPU) or peak allocated CUDA memory
    peak_memory_kind: str = "rss"
    prompts: int = 0
    images_per_prompt: int = 0
    visual_tokens_per_prompt: int = 0
    sequence_length: int = 0  # longest row of the collated batch (SFT) / prompt + completion (GRPO)
    tokens: int = 0  # non-padding tokens the step processed
    completion_tokens: int = 0
    trainable_parameters: int = 0
    trainable_vision_parameters: int = 0  # of the vision tower ("visual"): none under the paper's LoRA
    total_parameters: int = 0
    image_calls: int = 0  # forwards that carried images
    image_mismatches: list[str] = field(default_factory=list)
    loss: float | None = None

    @property
    def tokens_per_second(self) -> float:
        """Tokens processed per second of the step."""
        return self.tokens / self.step_seconds if self.step_seconds else 0.0


# -------------------------------------------------------------------------------------------- the data


def _texture(width: int, height: int, seed: int):
    """Return an RGB image with structure at several scales (noise over colour gradients), so resizing
    and patching see real pixel content rather than a flat colour."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            127 + 100 * np.sin(x / rng.uniform(20, 90) + rng.uniform(0, 6)),
            127 + 100 * np.cos(y / rng.uniform(20, 90) + rng.uniform(0, 6)),
            127 + 100 * np.sin((x + y) / rng.uniform(30, 120)),
        ],
        axis=-1,
    )
    noise = rng.normal(0, 25, size=(height, width, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")


def write_pairing_example(
    folder: str | Path,
    *,
    n_images: int = 5,
    query_size: tuple[int, int] = (1024, 512),
    candidate_size: tuple[int, int] = (800, 800),
    think_words: int = 60,
    n_examples: int = 1,
    seed: int = 0,
) -> Path:
    """Write pairing task examples (a street-view panorama query and ``n_images - 1`` satellite candidates,
    JPEG, each larger than the paper's pixel budget so the processor resizes them down to it) with a CoT
    completion; return the JSONL path. The same file serves SFT (completion) and GRPO (solution)."""
    from geor1.builders.pairing import QUESTION
    from geor1.io import write_jsonl
    from geor1.records import user_prompt

    if n_images < 2:
        raise ValueError(
            f"n_images: a pairing prompt needs a query and at least one candidate, got {n_images}"
        )
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    words = "road river roof field shadow intersection building tree parking lane".split()
    rows = []
    for i in range(n_examples):
        images = []
        for j in range(n_images):
            rel = f"images/ex{i}_{j}.jpg"
            size = query_size if j == 0 else candidate_size
            _texture(*size, seed=seed * 1000 + i * 10 + j).save(folder / rel, quality=90)
            images.append(rel)
        k = n_images - 1
        labels = ["Query (street view):"] + [f"Candidate {LETTERS[c]} (satellite view):" for c in range(k)]
        letter = LETTERS[rng.randrange(k)]
        think = " ".join(rng.choice(words) for _ in range(think_words))
        rows.append(
            {
                "id": f"probe-{i}",
                "task": "pairing",
                "images": images,
                "prompt": user_prompt(QUESTION, n_images, labels=labels),
                "solution": letter,
                "meta": {"band": "hard", "lat": 48.8566, "lon": 2.3522, "query_view": "street"},
                "completion": [
                    {"role": "assistant", "content": f"<think>{think}</think><answer>{letter}</answer>"}
                ],
            }
        )
    path = folder / "pairing.jsonl"
    write_jsonl(path, rows)
    return path


# ------------------------------------------------------------------------------------------ measuring


class PeakMemory:
    """Peak memory since the last ``reset``: allocated CUDA memory on a GPU, resident set size on CPU."""

    def __init__(self, device: str):
        self.device = device
        self.kind = "cuda_allocated" if device == "cuda" else "rss"

    def reset(self) -> None:
        """Start a new measurement window."""
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            return
        try:  # "5" resets the kernel's high-water mark of this process's RSS (VmHWM)
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass  # not Linux: the peak then covers the whole process

    def peak(self) -> int:
        """Return the peak in bytes since the last reset."""
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()
            return int(torch.cuda.max_memory_allocated())
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


class ImageTokenAudit:
    """Compare, on every forward that carries images, the ``<|image_pad|>`` tokens of ``input_ids`` with
    the features the vision tower returns for that forward.

    A training forward passes ``pixel_values`` to the backbone, which runs the vision tower inside it;
    transformers' generation runs the vision tower first and then calls the backbone with the prompt
    ``input_ids`` and no ``pixel_values``. Both orders are paired up here.
    """

    def __init__(self, model: Any):
        self.calls = 0
        self.mismatches: list[str] = []
        self._tokens: int | None = None  # image tokens of a backbone call whose features are to come
        self._features: int | None = None  # features computed before their backbone call (generation)
        self._handles = []
        # The backbone that owns the vision tower as a child: wrappers (the *ForConditionalGeneration
        # model, peft) reach it through properties, and peft calls the wrapped model's forward directly,
        # bypassing hooks on the wrapper.
        vlm = next((m for m in model.modules() if "visual" in dict(m.named_children())), None)
        if vlm is None:
            raise ValueError("no vision-language backbone (a module with .visual) in the model")
        self.image_token_id = vlm.config.image_token_id
        self._handles.append(vlm.register_forward_pre_hook(self._before_backbone, with_kwargs=True))
        self._handles.append(vlm.visual.register_forward_hook(self._after_visual))

    def _check(self, tokens: int, features: int) -> None:
        self.calls += 1
        if tokens != features:
            self.mismatches.append(f"{tokens} image tokens vs {features} features")

    def _before_backbone(self, module, args, kwargs):
        input_ids = kwargs.get("input_ids")
        if input_ids is None:
            return
        tokens = int((input_ids == self.image_token_id).sum())
        if kwargs.get("pixel_values") is not None:
            self._tokens = tokens
        elif self._features is not None:
            self._check(tokens, self._features)
            self._features = None

    def _after_visual(self, module, args, output):
        features = getattr(output, "pooler_output", None)
        if features is None:
            features = output[0] if isinstance(output, tuple) else output
        if self._tokens is None:
            self._features = int(features.shape[0])
            return
        self._check(self._tokens, int(features.shape[0]))
        self._tokens = None

    def remove(self) -> None:
        """Detach the hooks."""
        for handle in self._handles:
            handle.remove()


def _step_timer():
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Wall and CPU seconds of each optimisation step, and the last logged loss."""

        def __init__(self):
            self.seconds: list[float] = []
            self.cpu_seconds: list[float] = []
            self.loss: float | None = None
            self._start = (0.0, 0.0)
            self.synchronize = None

        def on_step_begin(self, args, state, control, **kwargs):
            if self.synchronize:
                self.synchronize()
            self._start = (time.perf_counter(), time.process_time())

        def on_step_end(self, args, state, control, **kwargs):
            if self.synchronize:
                self.synchronize()
            self.seconds.append(time.perf_counter() - self._start[0])
            self.cpu_seconds.append(time.process_time() - self._start[1])

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.loss = float(logs["loss"])

    return StepTimer()


# ----------------------------------------------------------------------------------------- the stages


def stage_mapping(
    stage: str,
    model: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    device: str = "cpu",
    dtype: str = "bfloat16",
    steps: int = 1,
    completion_tokens: int = 16,
    num_generations: int = 2,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    gradient_checkpointing: bool = True,
) -> tuple[str, dict[str, Any]]:
    """Return ``(kind, mapping)``: the paper config of ``stage`` with the overrides of a ``steps``-step probe.

    ``sft-full`` on a CPU steps with plain SGD (no optimizer state, so the memory measured is the forward
    + backward's); on CUDA every stage keeps the paper's optimizer. ``dtype`` is the weights' dtype and
    the mixed-precision mode (bf16 or fp16; float32 turns both off).
    """
    from geor1.models.real import PAPER_LORA_TARGET_MODULES
    from geor1.train.config import read_yaml_config

    if stage not in STAGES:
        raise ValueError(f"stage: expected one of {', '.join(STAGES)}, got {stage!r}")
    if steps < 1:
        raise ValueError(f"steps: must be at least 1, got {steps}")
    kind = "grpo" if stage.startswith("grpo") else "sft"
    mapping = read_yaml_config(CONFIGS / f"{kind}_paper.yaml")
    mapping.update(
        model_name_or_path=str(model),
        train_file=[str(data)],
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=1,
        gradient_accumulation_steps=1,
        gradient_checkpointing=gradient_checkpointing,
        save_strategy="no",
        logging_steps=1,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        use_cpu=device != "cuda",
        dtype=dtype,
        bf16=dtype == "bfloat16",
        fp16=dtype == "float16",
    )
    for key, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
        if value is not None:
            mapping[key] = value
    if stage.endswith("full"):
        mapping["use_peft"] = False
        if stage == "sft-full" and device != "cuda":
            mapping["optim"] = "sgd"
    else:
        mapping.update(use_peft=True, lora_target_modules=[PAPER_LORA_TARGET_MODULES])
    if kind == "grpo":
        mapping.update(
            per_device_train_batch_size=num_generations,
            num_generations=num_generations,
            max_completion_length=completion_tokens,
            reward_options={"length": {"max_len": completion_tokens}},
        )
    return kind, mapping


def run_stage(
    stage: str, model: str | Path, data: str | Path, out: str | Path, **options: Any
) -> StageResult:
    """Run the training steps of ``stage`` (see the module docstring; ``steps`` in ``options``, default 1)
    and return the figures of the last one (peak memory and the image audit cover them all)."""
    import torch

    from geor1.train.config import build_configs

    device = options.get("device", "cpu")
    kind, mapping = stage_mapping(stage, model, data, out, **options)
    script, model_args, args = build_configs(kind, mapping)
    memory = PeakMemory(device)
    memory.reset()
    timer = _step_timer()
    if device == "cuda":
        timer.synchronize = torch.cuda.synchronize
    start = time.perf_counter()
    if kind == "sft":
        from geor1.train.sft import build_sft_trainer

        trainer = build_sft_trainer(script, model_args, args, callbacks=[timer])
    else:
        from geor1.train.grpo import build_grpo_trainer

        trainer = build_grpo_trainer(script, model_args, args, callbacks=[timer])
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # disable_tqdm swaps the bar for a printer of every log
    result = StageResult(stage=stage, device=device, dtype=str(trainer.model.dtype).removeprefix("torch."))
    result.setup_seconds = time.perf_counter() - start
    result.total_parameters = sum(p.numel() for p in trainer.model.parameters())
    trainable = [(n, p.numel()) for n, p in trainer.model.named_parameters() if p.requires_grad]
    result.trainable_parameters = sum(n for _, n in trainable)
    result.trainable_vision_parameters = sum(n for name, n in trainable if ".visual." in f".{name}")
    audit = ImageTokenAudit(trainer.model)
    generation = GenerationTimer(trainer.model, timer.synchronize) if kind == "grpo" else None
    if kind == "sft":
        _describe_sft_batch(trainer, audit, result)
    trainer.train()
    audit.remove()
    # the last step: with several, the first pays the one-off costs (CUDA kernels, allocator warm-up)
    result.step_seconds = timer.seconds[-1] if timer.seconds else 0.0
    result.step_cpu_seconds = timer.cpu_seconds[-1] if timer.cpu_seconds else 0.0
    result.all_step_seconds = list(timer.seconds)
    result.peak_memory_bytes = memory.peak()
    result.peak_memory_kind = memory.kind
    result.loss = timer.loss
    result.image_calls = audit.calls
    result.image_mismatches = audit.mismatches
    if generation is not None:
        result.generate_seconds = generation.seconds
        _describe_grpo_step(trainer, generation, result)
    return result


def _describe_sft_batch(trainer: Any, audit: ImageTokenAudit, result: StageResult) -> None:
    """Fill the sequence and visual-token figures from one collated batch (the one the step trains on:
    one example, read again), checking its image tokens against ``image_grid_thw``."""
    batch = next(iter(trainer.get_train_dataloader()))
    image_tokens = int((batch["input_ids"] == audit.image_token_id).sum())
    merge = trainer.model.config.vision_config.spatial_merge_size
    from_grid = int(batch["image_grid_thw"].prod(dim=-1).sum()) // (merge * merge)
    if image_tokens != from_grid:
        audit.mismatches.append(f"collator: {image_tokens} image tokens vs {from_grid} from image_grid_thw")
    result.prompts = int(batch["input_ids"].shape[0])
    result.images_per_prompt = int(batch["image_grid_thw"].shape[0]) // result.prompts
    result.visual_tokens_per_prompt = image_tokens // result.prompts
    result.sequence_length = int(batch["input_ids"].shape[1])
    result.tokens = int(batch["attention_mask"].sum())
    result.completion_tokens = int((batch["labels"] != -100).sum())


class GenerationTimer:
    """Wrap ``model.generate`` (what GRPO calls through ``unwrap_model_for_generation``) with a timer that
    keeps the last prompt and output."""

    def __init__(self, model: Any, synchronize: Any = None):
        self.seconds = 0.0
        self.prompt: Any = None
        self.output: Any = None
        original = model.generate

        def timed_generate(*args: Any, **kwargs: Any):
            start = time.perf_counter()
            out = original(*args, **kwargs)
            if synchronize:
                synchronize()
            self.seconds = time.perf_counter() - start  # one generation batch per step: the last step's
            self.prompt, self.output = kwargs.get("input_ids"), out
            return out

        model.generate = timed_generate


def _describe_grpo_step(trainer: Any, generation: GenerationTimer, result: StageResult) -> None:
    """Fill the sequence and visual-token figures of the generation batch."""
    prompt, out = generation.prompt, generation.output
    if prompt is None or out is None:
        return
    config = trainer.model.config
    pad = trainer.processing_class.tokenizer.pad_token_id
    result.prompts = int(prompt.shape[0])
    result.visual_tokens_per_prompt = int((prompt == config.image_token_id).sum()) // result.prompts
    result.images_per_prompt = int((prompt == config.vision_start_token_id).sum()) // result.prompts
    result.sequence_length = int(out.shape[1])
    result.completion_tokens = int((out[:, prompt.shape[1] :] != pad).sum())
    result.tokens = int((prompt != pad).sum()) + result.completion_tokens


# -------------------------------------------------------------------------------------------- the CLI


def main(argv: list[str] | None = None) -> None:
    """``python -m geor1.train.probe STAGE --model DIR --data FILE --out DIR --json RESULT [...]``."""
    parser = argparse.ArgumentParser(description="One measured training step (see geor1.train.probe).")
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--json", required=True, type=Path, help="where to write the StageResult")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--dtype", choices=("bfloat16", "float16", "float32"), default="bfloat16")
    parser.add_argument("--steps", type=int, default=1, help="steps to run; the last one is reported")
    parser.add_argument("--completion-tokens", type=int, default=16)
    parser.add_argument("--num-generations", type=int, default=2)
    parser.add_argument("--min-pixels", type=int)
    parser.add_argument("--max-pixels", type=int)
    parser.add_argument("--no-gradient-checkpointing", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave the default)")
    cli = parser.parse_args(argv)
    import torch

    if cli.threads:
        torch.set_num_threads(cli.threads)
    result = run_stage(
        cli.stage,
        cli.model,
        cli.data,
        cli.out,
        device=cli.device,
        dtype=cli.dtype,
        steps=cli.steps,
        completion_tokens=cli.completion_tokens,
        num_generations=cli.num_generations,
        min_pixels=cli.min_pixels,
        max_pixels=cli.max_pixels,
        gradient_checkpointing=not cli.no_gradient_checkpointing,
    )
    from geor1.io import write_json

    write_json(cli.json, {**asdict(result), "tokens_per_second": result.tokens_per_second})
    json.dump({"stage": result.stage, "step_seconds": result.step_seconds}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
