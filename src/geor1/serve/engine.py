"""The engine behind ``geo-r1 serve``: a local model answering one chat request at a time.

It reuses the evaluation harness's HF backend (chat template, left padding, greedy or seeded sampling),
so the server answers exactly as ``geo-r1 eval --backend hf`` would for the same prompt.
"""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path
from typing import Any

from geor1.serve.app import Generation
from geor1.serve.requests import ChatRequest, RequestRejected


def model_context_length(config: Any) -> int | None:
    """Return the most positions a model's text decoder takes (``max_position_embeddings``), or None."""
    for cfg in (getattr(config, "text_config", None), config):
        value = getattr(cfg, "max_position_embeddings", None) if cfg is not None else None
        if isinstance(value, int) and value > 0:
            return value
    return None


def cut_at_stop(text: str, stop: list[str]) -> tuple[str, bool]:
    """Return ``text`` cut before the first stop sequence in it, and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stop) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


class HFChatEngine:
    """Answer chat requests with a local image-text-to-text model (tiny on CPU, real ones on GPU)."""

    def __init__(
        self,
        model: str | Path,
        *,
        model_name: str | None = None,
        device: str | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        max_prompt_tokens: int | None = None,
    ):
        from geor1.eval.backends.hf import HFBackend
        from geor1.models import set_image_budget

        self.backend = HFBackend(str(model), batch_size=1, device=device)
        set_image_budget(self.backend.processor, min_pixels, max_pixels)
        self.model_name = model_name or Path(str(model)).name or str(model)
        self.context_length = model_context_length(self.backend.net.config)
        self.max_prompt_tokens = max_prompt_tokens

    def prompt_tokens(self, request: ChatRequest) -> int:
        """Return how many positions ``request``'s prompt takes: its chat-template text plus each image's
        visual tokens (the template holds one placeholder per image, which the processor expands)."""
        from geor1.models import visual_tokens_per_image

        prompt_text = self.backend.processor.apply_chat_template(
            request.messages, tokenize=False, add_generation_prompt=True
        )
        count = len(self.backend.tokenizer(prompt_text, add_special_tokens=False)["input_ids"])
        for image in request.images:
            count += visual_tokens_per_image(self.backend.processor, image.height, image.width) - 1
        return count

    def check_prompt(self, request: ChatRequest) -> int:
        """Return the prompt's token count, or raise RequestRejected (400) when the prompt and
        ``max_tokens`` do not fit the model's context or the prompt passes ``max_prompt_tokens``."""
        count = self.prompt_tokens(request)
        limits = []
        if self.context_length is not None:
            limits.append((self.context_length - request.max_tokens, f"the model's {self.context_length} "
                           f"positions less max_tokens {request.max_tokens}"))  # fmt: skip
        if self.max_prompt_tokens:
            limits.append((self.max_prompt_tokens, "the server's --max-prompt-tokens"))
        for limit, why in limits:
            if count > limit:
                raise RequestRejected(
                    400,
                    f"prompt is {count} tokens, over the limit of {max(limit, 0)} ({why})",
                    "messages",
                    "context_length_exceeded",
                )
        return count

    def generate(self, request: ChatRequest) -> Generation:
        """Return the model's completion for ``request`` with token counts."""
        from geor1.eval.types import EvalExample, SamplingConfig

        prompt_tokens = self.check_prompt(request)  # before generating: a too-long prompt never runs
        example = EvalExample(
            id=uuid.uuid4().hex, prompt=request.messages, images=list(request.images), solution=None
        )
        seed = request.seed
        if seed is None:
            # sampling without a seed differs between calls, as OpenAI's does; greedy needs no seed
            seed = secrets.randbits(63) if request.temperature > 0 else 0
        sampling = SamplingConfig(
            temperature=request.temperature,
            top_p=request.top_p,
            max_new_tokens=request.max_tokens,
            seed=seed,
        )
        text = self.backend.generate([example], sampling)[0]
        text, stopped = cut_at_stop(text, request.stop)
        completion_tokens = len(self.backend.tokenizer(text, add_special_tokens=False)["input_ids"])
        finish = "length" if completion_tokens >= request.max_tokens and not stopped else "stop"
        return Generation(
            text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, finish_reason=finish
        )
