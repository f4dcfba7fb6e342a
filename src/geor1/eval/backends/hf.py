"""Local 🤗 transformers backend: batched generation with left padding, images processed per batch.

Prompts go through the processor's chat template (images first, as the examples lay them out), the
batch is padded on the LEFT so every row's last token is the generation start, and only the new tokens
are decoded. Greedy when ``temperature == 0``; otherwise each example is sampled from its own random
stream seeded by the run seed and its content (``geor1.eval.backends.sampling``), so samples are
reproducible, differ between examples and batches, and do not depend on the batch size or on resuming.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geor1.errors import GeoR1Error
from geor1.eval.backends import Backend
from geor1.eval.types import EvalExample, SamplingConfig


class HFBackend(Backend):
    """Generate with a local image-text-to-text model on CPU or GPU."""

    def __init__(
        self, model: str, *, batch_size: int = 8, device: str | None = None, dtype: str | None = None
    ):
        super().__init__(model)
        import torch

        from geor1.eval.fingerprint import local_model_id
        from geor1.models import load_model, load_processor

        self._model_id = local_model_id(model)  # before loading: the id names the files that were loaded

        self.batch_size = max(1, batch_size)
        self.chunk_size = self.batch_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype is None:
            dtype = "auto" if self.device != "cpu" else "float32"
        self.processor = load_processor(model, padding_side="left")
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.net = load_model(model, dtype=dtype).to(self.device).eval()

    @property
    def model_id(self) -> str:
        """Return the cache id: "<resolved folder>#<fingerprint of its files>" (a hub id as given)."""
        return self._model_id

    def _batch_inputs(self, examples: Sequence[EvalExample]) -> Any:
        from geor1.images import open_image

        texts = [
            self.processor.apply_chat_template(e.prompt, tokenize=False, add_generation_prompt=True)
            for e in examples
        ]
        # paths are opened (and checked) here; in-memory PIL images (from geo-r1 serve) pass through
        images = []
        for e in examples:
            for p in e.images:
                if not isinstance(p, (str, Path)):
                    images.append(p)
                    continue
                try:
                    images.append(open_image(p))
                except GeoR1Error as exc:  # name the task line that shows the image, not only the file
                    where = f"{e.source} (example {e.id!r})" if e.source else f"example {e.id!r}"
                    raise GeoR1Error(f"{where}: {exc}") from None
        kwargs: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt"}
        if images:
            kwargs["images"] = images
        return self.processor(**kwargs).to(self.device)

    def _decoding_kwargs(self, batch: Sequence[EvalExample], sampling: SamplingConfig) -> dict[str, Any]:
        """Return ``generate`` keyword arguments: plain greedy decoding, or greedy over per-example
        Gumbel-perturbed scores (sampling with one seeded stream per example)."""
        kwargs: dict[str, Any] = {
            "max_new_tokens": sampling.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
            "do_sample": False,
            # override sampling defaults of the model's generation config: any sampling is done by our processors
            "temperature": None,
            "top_p": None,
            "top_k": None,
        }
        if not sampling.greedy:
            from geor1.eval.backends.sampling import per_example_sampler
            from geor1.eval.fingerprint import sampling_seed

            seeds = [sampling_seed(sampling, e) for e in batch]
            kwargs["logits_processor"] = per_example_sampler(
                seeds, sampling.temperature, sampling.top_p, self.device
            )
        return kwargs

    def generate(self, examples: Sequence[EvalExample], sampling: SamplingConfig) -> list[str]:
        """Return one completion per example, generated ``batch_size`` at a time."""
        import torch

        out: list[str] = []
        for start in range(0, len(examples), self.batch_size):
            batch = examples[start : start + self.batch_size]
            inputs = self._batch_inputs(batch)
            kwargs = self._decoding_kwargs(batch, sampling)
            with torch.inference_mode():
                generated = self.net.generate(**inputs, **kwargs)
            new_tokens = generated[:, inputs["input_ids"].shape[1] :]
            out.extend(self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
        return out
