"""Image-only Qwen2-VL / Qwen2.5-VL processors that work without torchvision.

transformers 5 builds the stock Qwen processors with a video-processor slot, and the video processor
class only exists when torchvision imports, so ``Qwen2VLProcessor(...)`` fails on a CPU-only install.
These subclasses drop the video slot (``ProcessorMixin.get_attributes`` reads the ``__init__``
signature) and are registered with ``AutoProcessor``, so ``AutoProcessor.from_pretrained(folder)``
finds them by the ``processor_class`` name saved in the folder — in geor1 and inside TRL alike, once
``geor1.models`` is imported.
"""

from __future__ import annotations

from transformers import AutoProcessor, Qwen2_5_VLConfig, Qwen2VLConfig
from transformers.models.qwen2_5_vl.processing_qwen2_5_vl import Qwen2_5_VLProcessor
from transformers.models.qwen2_vl.processing_qwen2_vl import Qwen2VLProcessor


class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
    """Qwen2-VL processor with an image processor and a tokenizer, no video processor."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


class ImageOnlyQwen2_5_VLProcessor(Qwen2_5_VLProcessor):
    """Qwen2.5-VL processor with an image processor and a tokenizer, no video processor."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


# model_type -> image-only processor class, used when the stock processor cannot be built.
IMAGE_ONLY_PROCESSORS: dict[str, type] = {
    "qwen2_vl": ImageOnlyQwen2VLProcessor,
    "qwen2_5_vl": ImageOnlyQwen2_5_VLProcessor,
}


def register_image_only_processors() -> None:
    """Register the image-only processors with ``AutoProcessor`` (idempotent)."""
    AutoProcessor.register(Qwen2VLConfig, ImageOnlyQwen2VLProcessor, exist_ok=True)
    AutoProcessor.register(Qwen2_5_VLConfig, ImageOnlyQwen2_5_VLProcessor, exist_ok=True)


register_image_only_processors()
