"""The engine behind ``geo-r1 serve``: a local model answering one chat request at a time.

It reuses the evaluation harness's HF backend (chat template, left padding, greedy or seeded sampling),
so the server answers exactly as ``geo-r1 eval --backend hf`` would for the same prompt.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from geor1.serve.app import Generation
from geor1.serve.requests import ChatRequest


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
    ):
        from geor1.eval.backends.hf import HFBackend
        from geor1.models import set_image_budget

        self.backend = HFBackend(str(model), batch_size=1, device=device)
        set_image_budget(self.backend.processor, min_pixels, max_pixels)
        self.model_name = model_name or Path(str(model)).name or str(model)

    def generate(self, request: ChatRequest) -> Generation:
        """Return the model's completion for ``request`` with token counts."""
        from geor1.eval.types import EvalExample, SamplingConfig

        example = EvalExample(
            id=uuid.uuid4().hex, prompt=request.messages, images=list(request.images), solution=None
        )
        sampling = SamplingConfig(
            temperature=request.temperature,
            top_p=request.top_p,
            max_new_tokens=request.max_tokens,
            seed=request.seed if request.seed is not None else 0,
        )
        text = self.backend.generate([example], sampling)[0]
        tokenizer = self.backend.tokenizer
        completion_tokens = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        prompt_text = self.backend.processor.apply_chat_template(
            request.messages, tokenize=False, add_generation_prompt=True
        )
        prompt_tokens = len(tokenizer(prompt_text, add_special_tokens=False)["input_ids"])
        finish = "length" if completion_tokens >= request.max_tokens else "stop"
        return Generation(
            text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, finish_reason=finish
        )
