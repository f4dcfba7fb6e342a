"""Tiny model build + offline reload, processor image budget, LoRA merge, `geo-r1 model` CLI."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from PIL import Image

from geor1.errors import ConfigError
from geor1.models import (
    TinySpec,
    build_tiny_model,
    load_model,
    load_processor,
    save_tiny_model,
    set_image_budget,
    visual_tokens_per_image,
)
from geor1.models.tiny import mrope_section


@pytest.mark.parametrize("arch", ["qwen2_vl", "qwen2_5_vl"])
def test_tiny_model_saves_and_reloads_offline(tmp_path, arch):
    folder = save_tiny_model(TinySpec(arch=arch, seed=3), tmp_path / arch)
    assert (folder / "model.safetensors").exists()
    assert json.loads((folder / "processor_config.json").read_text())["processor_class"].startswith(
        "ImageOnly"
    )
    model = load_model(folder)
    processor = load_processor(folder)
    assert model.config.model_type == arch
    assert model.config.text_config.hidden_size <= 128
    assert processor.tokenizer.padding_side == "left"
    # The tokenizer knows the Qwen specials and keeps the reward tags whole.
    tok = processor.tokenizer
    for special in ("<|im_start|>", "<|im_end|>", "<|image_pad|>", "<|vision_start|>"):
        assert tok.convert_tokens_to_ids(special) < model.config.text_config.vocab_size
    assert tok.tokenize("<think>x</think><answer>B</answer>")[0] == "<think>"
    text = "<think>Coastal Savannas near Nairobi</think><answer>(48.8566, 2.3522)</answer>"
    assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == text
    # A real forward/generate pass with an image.
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Which continent?"}]}
    ]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("<|im_start|>assistant\n")
    inputs = processor(
        images=[Image.new("RGB", (80, 80), (10, 120, 200))], text=[prompt], return_tensors="pt"
    )
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]


def test_tiny_model_is_deterministic_per_seed(tmp_path):
    def digest(folder, name):
        return hashlib.sha256((folder / name).read_bytes()).hexdigest()

    a = save_tiny_model(TinySpec(seed=5), tmp_path / "a")
    b = save_tiny_model(TinySpec(seed=5), tmp_path / "b")
    c = save_tiny_model(TinySpec(seed=6), tmp_path / "c")
    assert digest(a, "tokenizer.json") == digest(b, "tokenizer.json")
    assert digest(a, "model.safetensors") == digest(b, "model.safetensors")
    assert digest(a, "model.safetensors") != digest(c, "model.safetensors")


def test_tiny_spec_rejects_bad_sizes():
    with pytest.raises(ConfigError, match="config key 'hidden'"):
        TinySpec(hidden=256).check()
    with pytest.raises(ConfigError, match="config key 'arch'"):
        TinySpec(arch="llava").check()
    assert sum(mrope_section(128)) == 64 and sum(mrope_section(32)) == 16


def test_processor_gives_bounded_fixed_visual_tokens(tiny_model_dir):
    processor = load_processor(tiny_model_dir, min_pixels=112 * 112, max_pixels=112 * 112)
    # Small squares are scaled up and squares with 28-multiple sides scaled down to the same 8x8 patch
    # grid: 16 tokens after the 2x2 merge, whatever the content.
    counts = {visual_tokens_per_image(processor, s, s) for s in (40, 56, 112, 224, 560)}
    assert counts == {16}
    # Any size and aspect ratio stays within the budget (smart_resize floors other sizes below it).
    for h, w in [(150, 150), (1000, 300), (50, 900), (7, 7)]:
        assert 1 <= visual_tokens_per_image(processor, h, w) <= 16
    # The processor really emits that many placeholders.
    prompt = "<|vision_start|><|image_pad|><|vision_end|>"
    out = processor(images=[Image.new("RGB", (500, 500))], text=[prompt], return_tensors="pt")
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((out["input_ids"] == image_id).sum()) == 16
    set_image_budget(processor, 56 * 56, 56 * 56)
    assert visual_tokens_per_image(processor, 500, 500) == 4
    with pytest.raises(ValueError, match="exceeds"):
        set_image_budget(processor, 200 * 200, 100 * 100)


def save_lora_adapter(model_dir, folder):
    """Save a LoRA adapter of the model at ``model_dir`` with non-zero B matrices in ``folder``."""
    from peft import LoraConfig, get_peft_model

    model = load_model(model_dir)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:  # non-zero B so the merge changes the weights
            torch.nn.init.normal_(param, std=0.5)
    peft_model.save_pretrained(folder)
    return folder


def q_proj_weight(model):
    state = model.state_dict()
    return state[next(k for k in state if k.endswith("self_attn.q_proj.weight"))]


def test_merge_lora_gives_a_plain_model(tmp_path, tiny_model_dir):
    from geor1.models import merge_lora

    save_lora_adapter(tiny_model_dir, tmp_path / "adapter")
    merged_dir = merge_lora(tiny_model_dir, tmp_path / "adapter", tmp_path / "merged")
    merged = load_model(merged_dir)
    base = load_model(tiny_model_dir)
    assert not any("lora" in k for k in merged.state_dict())
    key = next(k for k in base.state_dict() if k.endswith("self_attn.q_proj.weight"))
    assert not torch.allclose(base.state_dict()[key], merged.state_dict()[key])
    assert (merged_dir / "processor_config.json").exists()


def test_merge_lora_cli_keeps_the_adapter_processor_budget(tmp_path, tiny_model_dir):
    """Training saves its processor (with the run's pixel budget) beside the adapter: the merge keeps it."""
    from typer.testing import CliRunner

    from geor1.cli import build_app

    adapter = save_lora_adapter(tiny_model_dir, tmp_path / "adapter")
    budget = 56 * 56  # the tiny model's own budget is 56*56 .. 112*112 (16 tokens for a 224 px square)
    load_processor(tiny_model_dir, min_pixels=budget, max_pixels=budget).save_pretrained(adapter)
    # As a GPU run saves it: the stock class name (built image-only here when torchvision is missing,
    # which needs the base model's type: the adapter folder has no config.json).
    config_path = adapter / "processor_config.json"
    config = json.loads(config_path.read_text())
    config["processor_class"] = "Qwen2_5_VLProcessor"
    config_path.write_text(json.dumps(config))
    out = tmp_path / "merged"
    result = CliRunner().invoke(
        build_app(),
        ["model", "merge-lora", "--base", str(tiny_model_dir), "--adapter", str(adapter), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    processor = load_processor(out)
    assert processor.image_processor.size["longest_edge"] == budget
    assert visual_tokens_per_image(processor, 224, 224) == 4
    assert visual_tokens_per_image(load_processor(tiny_model_dir), 224, 224) == 16
    merged = load_model(out)
    assert not any("lora" in k for k in merged.state_dict())
    assert not torch.allclose(q_proj_weight(load_model(tiny_model_dir)), q_proj_weight(merged))


def test_model_cli_builds_tiny_model(tmp_path):
    from typer.testing import CliRunner

    from geor1.cli import build_app

    result = CliRunner().invoke(
        build_app(), ["model", "tiny", "--arch", "qwen2_vl", "--out", str(tmp_path / "m"), "--layers", "1"]
    )
    assert result.exit_code == 0, result.output
    assert load_model(tmp_path / "m").config.text_config.num_hidden_layers == 1
    bad = CliRunner().invoke(build_app(), ["model", "tiny", "--out", str(tmp_path / "x"), "--hidden", "512"])
    errors = [line for line in bad.output.splitlines() if line.startswith("error:")]
    assert bad.exit_code == 2 and len(errors) == 1, bad.output
    assert (
        errors[0].startswith("error: option --hidden: must be in [8, 128]") and not (tmp_path / "x").exists()
    )


def test_build_tiny_model_keeps_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    build_tiny_model(TinySpec(layers=1))
    assert torch.equal(torch.rand(1), expected)


def test_stock_qwen_processor_class_loads_without_torchvision(tmp_path, tiny_model_dir):
    """Real Qwen checkpoints name the stock processor; without torchvision geor1 builds the image-only one."""
    import shutil

    from transformers import AutoProcessor
    from transformers.utils import is_torchvision_available

    # What TRL does when it gets a model path: AutoProcessor finds the registered image-only class.
    assert type(AutoProcessor.from_pretrained(tiny_model_dir)).__name__ == "ImageOnlyQwen2_5_VLProcessor"
    stock = tmp_path / "stock"
    shutil.copytree(tiny_model_dir, stock)
    config_path = stock / "processor_config.json"
    config = json.loads(config_path.read_text())
    config["processor_class"] = "Qwen2_5_VLProcessor"
    config_path.write_text(json.dumps(config))
    processor = load_processor(stock, max_pixels=56 * 56)
    expected = "Qwen2_5_VLProcessor" if is_torchvision_available() else "ImageOnlyQwen2_5_VLProcessor"
    assert type(processor).__name__ == expected
    assert processor.tokenizer.padding_side == "left"
    assert visual_tokens_per_image(processor, 224, 224) == 4


def test_lm_head_gets_contiguous_rows(tiny_model_dir):
    """Generation projects hidden[:, -1:, :], a strided view for a batch; matmul would copy the LM head
    weight once per row for it, so load_model's hook hands the head a contiguous copy of the rows."""
    model = load_model(tiny_model_dir)
    head = model.get_output_embeddings()
    seen = []
    head.register_forward_pre_hook(lambda module, args: seen.append(args[0].is_contiguous()))
    strided = torch.randn(2, 5, head.in_features, dtype=head.weight.dtype)[:, -1:, :]
    assert not strided.is_contiguous()
    with torch.no_grad():
        out = head(strided)
        assert torch.equal(out, torch.nn.functional.linear(strided.contiguous(), head.weight, head.bias))
    assert seen == [True]
    processor = load_processor(tiny_model_dir)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Where?"}]}]
    prompts = [processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)] * 2
    image = Image.new("RGB", (56, 56), (30, 90, 10))
    inputs = processor(text=prompts, images=[image, image], return_tensors="pt", padding=True)
    seen.clear()
    model.generate(**inputs, max_new_tokens=2, do_sample=False)
    assert seen and all(seen)
