"""vLLM offline backend (optional extra ``pip install geor1[vllm]``; needs a GPU)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from geor1.errors import ConfigError
from geor1.eval.backends import Backend
from geor1.eval.backends.http import to_openai_messages
from geor1.eval.fingerprint import sampling_seed
from geor1.eval.types import EvalExample, SamplingConfig


def import_vllm() -> Any:
    """Return the ``vllm`` module, or raise ConfigError (``backend``) saying how to install it."""
    try:
        import vllm
    except ImportError as exc:
        raise ConfigError(
            "backend",
            "vllm needs vLLM, which is not installed (a GPU package): pip install 'geor1[vllm]', or use "
            f"the hf backend, or serve the model and use the http backend ({exc})",
        ) from None
    return vllm


class VLLMBackend(Backend):
    """Batched offline generation with ``vllm.LLM.chat`` (images as data URLs, like the HTTP backend)."""

    def __init__(self, model: str, *, batch_size: int = 64, max_images: int = 8):
        super().__init__(model)
        from geor1.eval.fingerprint import local_model_id

        self._model_id = local_model_id(model)
        vllm = import_vllm()
        self._vllm = vllm
        self.llm = vllm.LLM(model=model, limit_mm_per_prompt={"image": max_images})
        self.chunk_size = batch_size

    @property
    def model_id(self) -> str:
        """Return the cache id: "<resolved folder>#<fingerprint of its files>" (a hub id as given)."""
        return self._model_id

    def generate(self, examples: Sequence[EvalExample], sampling: SamplingConfig) -> list[str]:
        """Return one completion per example (one ``LLM.chat`` call per chunk; each example sampled with
        its own seed, ``geor1.eval.fingerprint.sampling_seed``)."""
        params = [
            self._vllm.SamplingParams(
                temperature=sampling.temperature,
                top_p=1.0 if sampling.greedy else sampling.top_p,
                max_tokens=sampling.max_new_tokens,
                seed=sampling_seed(sampling, e),
            )
            for e in examples
        ]
        outputs = self.llm.chat([to_openai_messages(e) for e in examples], params, use_tqdm=False)
        return [o.outputs[0].text for o in outputs]
