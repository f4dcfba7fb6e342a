"""Models: load any image-text-to-text VLM + processor, build tiny Qwen VLMs or published-size Qwen2.5-VL
(random weights), merge LoRA adapters.

Importing this package registers the image-only Qwen processors with ``AutoProcessor`` (see
``processor_compat``), so folders saved by geor1 load in TRL too.
"""

from geor1.models import processor_compat
from geor1.models.loading import (
    load_model,
    load_processor,
    merge_lora,
    set_image_budget,
    visual_tokens_per_image,
)
from geor1.models.real import RealSpec, build_real_model, save_real_model
from geor1.models.tiny import ARCHES, TinySpec, build_tiny_model, save_tiny_model

__all__ = [
    "ARCHES",
    "RealSpec",
    "TinySpec",
    "build_real_model",
    "build_tiny_model",
    "load_model",
    "load_processor",
    "merge_lora",
    "processor_compat",
    "save_real_model",
    "save_tiny_model",
    "set_image_budget",
    "visual_tokens_per_image",
]
