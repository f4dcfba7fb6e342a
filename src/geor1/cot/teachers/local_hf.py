"""Local Hugging Face teacher: any image-text-to-text model loaded with geor1's loader, run in batches.

Prompts are the example's own (images first, then the question) plus the rationalisation hint, rendered
with the processor's chat template. Generation is seeded per batch from the jobs' seeds. An image that
cannot be read makes that job an abstention; a failing batch makes every job in it a teacher error
(retried later by the runner), never an exception.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from geor1.cot.teachers.base import (
    TEACHER_SYSTEM_PROMPT,
    TeacherJob,
    TeacherResult,
    rationalisation_hint,
)
from geor1.errors import ConfigError, GeoR1Error


@dataclass
class HfTeacherConfig:
    """Settings of the local teacher (``temperature`` 0 means greedy decoding)."""

    model: str
    batch_size: int = 4
    max_new_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 0.95
    min_pixels: int | None = None
    max_pixels: int | None = None
    dtype: str = "auto"
    system_prompt: str | None = TEACHER_SYSTEM_PROMPT

    def __post_init__(self) -> None:
        if not self.model:
            raise ConfigError("model", "the hf teacher needs a model folder or id")
        if self.batch_size < 1:
            raise ConfigError("batch_size", "must be at least 1")
        if self.max_new_tokens < 1:
            raise ConfigError("max_new_tokens", "must be at least 1")


def teacher_messages(example: dict[str, Any], system_prompt: str | None) -> list[dict[str, Any]]:
    """Return the chat messages for one example: optional system turn, then the example's user turn with
    the rationalisation hint appended as a last text block."""
    messages: list[dict[str, Any]] = []
    if system_prompt:
        messages.append({"role": "system", "content": [{"type": "text", "text": system_prompt}]})
    for message in example["prompt"]:
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
        messages.append({"role": message.get("role", "user"), "content": blocks})
    hint = {"type": "text", "text": " " + rationalisation_hint(str(example["solution"]))}
    messages[-1] = {**messages[-1], "content": [*messages[-1]["content"], hint]}
    return messages


class HfTeacher:
    """Generates completions with a local VLM, ``batch_size`` examples at a time."""

    name = "hf"

    def __init__(
        self,
        config: HfTeacherConfig,
        model: Any = None,
        processor: Any = None,
    ):
        from geor1.models import load_model, load_processor

        self.config = config
        self.processor = processor or load_processor(
            config.model, min_pixels=config.min_pixels, max_pixels=config.max_pixels, padding_side="left"
        )
        self.model = model or load_model(config.model, dtype=config.dtype)
        self.model.eval()

    def describe(self) -> dict[str, Any]:
        """Return the teacher's name and model."""
        return {"name": self.name, "model": str(self.config.model)}

    def close(self) -> None:
        """Drop the model."""
        self.model = None

    def generate(self, jobs: Sequence[TeacherJob]) -> Iterator[TeacherResult]:
        """Yield one result per job, a batch at a time."""
        from geor1.images import open_image

        ready: list[tuple[TeacherJob, list[Any]]] = []
        for job in jobs:
            try:
                images = [open_image(p) for p in job.example.get("images") or []]
            except (GeoR1Error, OSError) as exc:
                yield TeacherResult(job, abstain=f"unreadable input: {exc}")
                continue
            ready.append((job, images))
        size = self.config.batch_size
        for start in range(0, len(ready), size):
            yield from self._batch(ready[start : start + size])

    def _batch(self, batch: list[tuple[TeacherJob, list[Any]]]) -> Iterator[TeacherResult]:
        import torch

        started = time.perf_counter()
        try:
            texts = [
                self.processor.apply_chat_template(
                    teacher_messages(job.example, self.config.system_prompt),
                    add_generation_prompt=True,
                    tokenize=False,
                )
                for job, _ in batch
            ]
            images = [image for _, imgs in batch for image in imgs]
            inputs = self.processor(text=texts, images=images or None, padding=True, return_tensors="pt")
            sample = self.config.temperature > 0
            generation: dict[str, Any] = {"max_new_tokens": self.config.max_new_tokens, "do_sample": sample}
            if sample:
                generation.update(temperature=self.config.temperature, top_p=self.config.top_p)
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                torch.manual_seed(batch[0][0].seed % (2**63))
                output = self.model.generate(**inputs, **generation)
        except Exception as exc:  # one failing batch must not end the run: its jobs are retried later
            for job, _ in batch:
                yield TeacherResult(job, error=f"{type(exc).__name__}: {exc}")
            return
        prompt_len = inputs["input_ids"].shape[1]
        new_tokens = output[:, prompt_len:]
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        decoded = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        pad = tokenizer.pad_token_id
        latency = time.perf_counter() - started
        for row, (job, _) in enumerate(batch):
            yield TeacherResult(
                job,
                text=decoded[row].strip(),
                prompt_tokens=int(inputs["attention_mask"][row].sum()),
                completion_tokens=int((new_tokens[row] != pad).sum())
                if pad is not None
                else int(new_tokens.shape[1]),
                latency_s=latency / len(batch),
            )
