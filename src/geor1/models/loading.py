"""Load any image-text-to-text model and its processor from a folder or hub id (offline-safe)."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from geor1.errors import ConfigError
from geor1.models import processor_compat

# A hub id is "name" or "owner/name" of letters, digits, "-", "_", "."; anything else is a local path.
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json")
_TRUE = {"1", "true", "yes", "on"}


def _hub_offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _hub_reachable(timeout: float = 3.0) -> str | None:
    """Return None if the model hub's host accepts a TCP connection within ``timeout`` s, else the reason."""
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{host} cannot be reached ({exc.strerror or exc})"


def _in_hub_cache(repo_id: str, revision: str | None = None) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "config.json", revision=revision), str)
    except Exception:  # noqa: BLE001  (a malformed id or cache is simply "not cached")
        return False


def check_model_source(
    name: str | Path,
    *,
    what: str = "model",
    need: tuple[str, ...] = ("config.json",),
    revision: str | None = None,
) -> None:
    """Raise ConfigError (naming the config field ``what``) at once when ``name`` cannot be
    a model: a local path that does not exist, a folder without any of the ``need`` files, or a hub id
    that is neither cached nor reachable (offline mode, or the hub's host does not answer).

    Names that are not shaped like a hub id (``./x``, ``/x``, ``a/b/c``, ``x/`` …) or whose first part is
    an existing local folder (a mistyped ``runs/modle``) are local paths and never go to the hub, so a
    typo costs no network retries.
    """
    text = str(name)
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ConfigError(what, f"{text!r}: a file, not a model folder")
        if not any((path / f).is_file() for f in need):
            hint = ""
            if (path / "adapter_config.json").is_file():
                hint = " (it is a LoRA adapter: merge it into its base with geo-r1 model merge-lora)"
            raise ConfigError(what, f"{text!r}: not a model folder, it has no {' or '.join(need)}{hint}")
        return
    first = Path(text).parts[0] if Path(text).parts else ""
    if not _HUB_ID.fullmatch(text) or (first != text and Path(first).is_dir()):
        raise ConfigError(what, f"{text!r}: no such model folder")
    if _in_hub_cache(text, revision):
        return
    if _hub_offline():
        raise ConfigError(
            what, f"{text!r}: no such local folder, and not in the hub cache (offline: HF_HUB_OFFLINE is set)"
        )
    reason = _hub_reachable()
    if reason is not None:
        raise ConfigError(what, f"{text!r}: no such local folder, and the model hub is unreachable: {reason}")


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

    check_model_source(path, what="model", need=("config.json", *_PROCESSOR_FILES), revision=revision)
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
    """Return the image-text-to-text model saved at ``path`` (``AutoModelForImageTextToText``), its LM head
    fed contiguous rows (``contiguous_lm_head_input``: batched generation without a weight-sized copy)."""
    from transformers import AutoModelForImageTextToText

    check_model_source(path, what="model", revision=revision)
    model = AutoModelForImageTextToText.from_pretrained(
        path,
        dtype=dtype,
        attn_implementation=attn_implementation,
        trust_remote_code=trust_remote_code,
        revision=revision,
        **kwargs,
    )
    contiguous_lm_head_input(model)
    return model


def contiguous_lm_head_input(model: Any) -> Any:
    """Make the LM head's input contiguous before it is projected; return the hook handle (None when the
    model has no output embeddings).

    Generation projects only the last position, ``hidden_states[:, -1:, :]``, a strided view once a
    batch has several rows. ``torch.matmul`` cannot fold such a view into one matrix product, so it
    multiplies batch by batch against the transposed LM head weight expanded to the batch and first
    copies that expansion: batch x vocabulary x hidden elements (2 x 151936 x 2048 for two Qwen2.5-VL-3B
    completions, about 25 s on one CPU core, more than the rest of a short generation). Copying the
    few hidden rows instead costs nothing and gives the same product.
    """
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is None:
        return None

    def contiguous(module: Any, args: tuple) -> tuple | None:
        if args and hasattr(args[0], "is_contiguous") and not args[0].is_contiguous():
            return (args[0].contiguous(), *args[1:])
        return None

    return head.register_forward_pre_hook(contiguous)


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

    check_model_source(base, what="base")
    check_model_source(adapter, what="adapter", need=("adapter_config.json",))
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
    from geor1.io import apply_umask

    return apply_umask(out)
