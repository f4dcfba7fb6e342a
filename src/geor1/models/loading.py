"""Load any image-text-to-text model and its processor from a folder or hub id (offline-safe)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from geor1.models import processor_compat


def _model_type(path: str | Path, revision: str | None = None) -> str | None:
    """Return the ``model_type`` of a local folder or a (cached) hub id, or None if it cannot be read."""
    config = Path(path) / "config.json"
    if config.exists():
        try:
            return json.loads(config.read_text(encoding="utf-8")).get("model_type")
        except (OSError, json.JSONDecodeError):
            return None
    try:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(str(path), revision=revision).model_type
    except (OSError, ValueError):
        return None


def set_image_budget(processor: Any, min_pixels: int | None = None, max_pixels: int | None = None) -> None:
    """Bound the pixels (hence visual tokens) of every image the processor resizes: Qwen-style image
    processors keep ``size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}`` (pixel counts)."""
    image_processor = getattr(processor, "image_processor", None)
    if image_processor is None or (min_pixels is None and max_pixels is None):
        return
    size = dict(image_processor.size or {})
    if "shortest_edge" not in size and "longest_edge" not in size:
        return  # not a pixel-budget processor (e.g. fixed-size SigLIP): nothing to bound
    if min_pixels is not None:
        size["shortest_edge"] = int(min_pixels)
    if max_pixels is not None:
        size["longest_edge"] = int(max_pixels)
    if size.get("shortest_edge", 0) > size.get("longest_edge", float("inf")):
        raise ValueError(f"min_pixels ({size['shortest_edge']}) exceeds max_pixels ({size['longest_edge']})")
    image_processor.size = size


def visual_tokens_per_image(processor: Any, height: int, width: int) -> int:
    """Return how many image placeholder tokens ``processor`` gives an image of ``height`` × ``width``."""
    data = processor._get_num_multimodal_tokens(image_sizes=[(height, width)])
    return int(data["num_image_tokens"][0])


def load_processor(
    path: str | Path,
    *,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    padding_side: str = "left",
    trust_remote_code: bool = False,
    revision: str | None = None,
    model_type: str | None = None,
) -> Any:
    """Return the processor saved at ``path`` with a left-padding tokenizer and a bounded image budget.

    On a CPU install without torchvision, Qwen2-VL/2.5-VL checkpoints that name the stock processor get
    the image-only processor instead (same tokenizer, image processor and chat template). ``model_type``
    stands in for the one of ``path``'s ``config.json`` (a LoRA adapter folder has none).
    """
    from transformers import AutoProcessor
    from transformers.utils import is_torchvision_available

    kwargs = dict(revision=revision, trust_remote_code=trust_remote_code, padding_side=padding_side)
    model_type = model_type or _model_type(path, revision)
    if model_type in processor_compat.IMAGE_ONLY_PROCESSORS and not is_torchvision_available():
        processor = processor_compat.IMAGE_ONLY_PROCESSORS[model_type].from_pretrained(path, **kwargs)
    else:
        processor = AutoProcessor.from_pretrained(path, **kwargs)
    tokenizer = getattr(processor, "tokenizer", processor)
    tokenizer.padding_side = padding_side
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    set_image_budget(processor, min_pixels, max_pixels)
    return processor


def load_model(
    path: str | Path,
    *,
    dtype: str | None = "auto",
    attn_implementation: str | None = None,
    trust_remote_code: bool = False,
    revision: str | None = None,
    **kwargs: Any,
) -> Any:
    """Return the image-text-to-text model saved at ``path`` (``AutoModelForImageTextToText``)."""
    from transformers import AutoModelForImageTextToText

    return AutoModelForImageTextToText.from_pretrained(
        path,
        dtype=dtype,
        attn_implementation=attn_implementation,
        trust_remote_code=trust_remote_code,
        revision=revision,
        **kwargs,
    )


def has_saved_processor(folder: str | Path) -> bool:
    """Return True if ``folder`` holds a saved processor: ``processor_config.json`` (transformers 5) or
    the older ``preprocessor_config.json`` (image-processor settings, transformers 4)."""
    from transformers.utils import IMAGE_PROCESSOR_NAME, PROCESSOR_NAME

    return any((Path(folder) / name).is_file() for name in (PROCESSOR_NAME, IMAGE_PROCESSOR_NAME))


def merge_lora(base: str | Path, adapter: str | Path, out: str | Path) -> Path:
    """Merge a peft LoRA adapter into its base model and save model + processor under ``out``; return it.

    The processor is the adapter folder's when training saved one there (it carries the run's pixel
    budget), else the base model's.
    """
    from peft import PeftModel

    model = load_model(base, dtype="auto")
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out, safe_serialization=True)
    if has_saved_processor(adapter):
        processor = load_processor(adapter, model_type=_model_type(base))
    else:
        processor = load_processor(base)
    processor.save_pretrained(out)
    return out
