"""``geo-r1 model …``: build tiny VLMs for CPU runs or published-size Qwen2.5-VL (random weights), merge
LoRA adapters."""

from __future__ import annotations

from pathlib import Path

import typer

model_app = typer.Typer(
    help="Build tiny or published-size models and merge LoRA adapters.", no_args_is_help=True
)


@model_app.command("tiny")
def tiny(
    out: Path = typer.Option(..., "--out", help="Folder to save the model and processor in."),
    arch: str = typer.Option("qwen2_5_vl", "--arch", help="qwen2_5_vl or qwen2_vl."),
    hidden: int = typer.Option(128, "--hidden", help="Text hidden size (≤ 128)."),
    layers: int = typer.Option(2, "--layers", help="Text decoder layers."),
    heads: int = typer.Option(4, "--heads", help="Attention heads."),
    kv_heads: int = typer.Option(2, "--kv-heads", help="Key/value heads."),
    intermediate: int = typer.Option(256, "--intermediate", help="Text MLP size."),
    vision_dim: int = typer.Option(64, "--vision-dim", help="Vision tower width."),
    vision_depth: int = typer.Option(2, "--vision-depth", help="Vision tower blocks."),
    vocab_size: int = typer.Option(2048, "--vocab-size", help="BPE vocabulary size before special tokens."),
    min_pixels: int = typer.Option(56 * 56, "--min-pixels", help="Smallest image area after resizing."),
    max_pixels: int = typer.Option(112 * 112, "--max-pixels", help="Largest image area after resizing."),
    seed: int = typer.Option(0, "--seed", help="Seed of the tokenizer corpus sample and the weights."),
) -> None:
    """Build a tiny, randomly initialised Qwen2-VL/Qwen2.5-VL with a locally trained tokenizer."""
    from geor1.models import TinySpec, save_tiny_model

    spec = TinySpec(
        arch=arch,
        hidden=hidden,
        layers=layers,
        heads=heads,
        kv_heads=kv_heads,
        intermediate=intermediate,
        vision_dim=vision_dim,
        vision_depth=vision_depth,
        vocab_size=vocab_size,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        seed=seed,
    )
    spec.check()
    folder = save_tiny_model(spec, out)
    typer.echo(f"tiny {arch} model saved to {folder}")


@model_app.command("pretrain")
def pretrain(
    model: Path = typer.Option(..., "--model", help="Model folder whose vision tower is pretrained."),
    views: Path = typer.Option(..., "--views", help="View manifest (views.jsonl) of the places."),
    out: Path = typer.Option(..., "--out", help="Folder for the pretrained model and processor."),
    places_from: list[Path] = typer.Option(
        [],
        "--places-from",
        help="Task files whose example places (meta.place) are the only places used "
        "(e.g. your training tasks); default: every place of the manifest.",
    ),
    kinds: str = typer.Option("satellite,context", "--kinds", help="View kinds paired, comma-separated."),
    steps: int = typer.Option(300, "--steps", help="Optimizer steps."),
    batch: int = typer.Option(64, "--batch", help="Places per step (each other's negatives)."),
    lr: float = typer.Option(3e-3, "--lr", help="Peak learning rate (one-cycle schedule)."),
    temperature: float = typer.Option(0.07, "--temperature", help="InfoNCE temperature."),
    text_weight: float = typer.Option(
        1.0, "--text-weight", help="Weight of the view-against-its-place's-words term (0: views only)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of batches and view kinds."),
) -> None:
    """Pretrain a VLM's vision tower contrastively on views of places (CLIP-style; the LM is untouched)."""
    from geor1.records import read_task_file
    from geor1.train.contrastive import ContrastiveConfig, pretrain_vision

    places = None
    if places_from:
        places = {
            str(e.meta.get("place")) for f in places_from for e in read_task_file(f, check_images=False)
        }
    config = ContrastiveConfig(
        kinds=[k.strip() for k in kinds.split(",") if k.strip()],
        steps=steps,
        batch=batch,
        lr=lr,
        temperature=temperature,
        text_weight=text_weight,
        seed=seed,
    )

    def progress(step: int, total: int, last: dict) -> None:
        if step == total or step % max(1, total // 10) == 0:
            typer.echo(
                f"step {step}/{total}: loss {last['loss']}, batch match {last['batch_match']}", err=True
            )

    summary = pretrain_vision(model, views, out, config, places=places, progress=progress)
    typer.echo(
        f"vision tower pretrained on {summary['places']} places ({summary['steps']} steps, "
        f"final loss {summary['final_loss']}); saved to {out}"
    )


@model_app.command("init")
def init(
    out: Path = typer.Option(..., "--out", help="Empty (or new) folder to save the model and processor in."),
    arch: str = typer.Option("qwen2_5_vl", "--arch", help="Architecture: qwen2_5_vl."),
    size: str = typer.Option(..., "--size", help="Published size: 3b or 7b."),
    layers: int | None = typer.Option(
        None, "--layers", help="Text decoder layers (default: the published count); widths and vision stay."
    ),
    dtype: str = typer.Option("bfloat16", "--dtype", help="bfloat16 (as published), float32 or float16."),
    min_pixels: int = typer.Option(3136, "--min-pixels", help="Smallest image area after resizing."),
    max_pixels: int = typer.Option(12845056, "--max-pixels", help="Largest image area after resizing."),
    seed: int = typer.Option(0, "--seed", help="Seed of the tokenizer corpus sample and the weights."),
) -> None:
    """Build a randomly initialised Qwen2.5-VL-3B/7B (published text and vision configs, Qwen's special
    tokens and chat template); --layers shortens the text stack for CPU runs."""
    from geor1.errors import GeoR1Error
    from geor1.models.real import RealSpec, memory_available, memory_needed, save_real_model

    spec = RealSpec(
        arch=arch,
        size=size.lower(),
        layers=layers,
        dtype=dtype,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        seed=seed,
    )
    spec.check()
    needed, available = memory_needed(spec), memory_available()
    # Checked up front: running out of memory halfway kills the process without a message.
    if available is not None and needed > available:
        raise GeoR1Error(
            f"--size {spec.size} with {spec.text_layers} text layers needs {needed / 2**30:.1f} GiB for its "
            f"{spec.dtype} weights, {available / 2**30:.1f} GiB is available; pass --layers N to shorten "
            "the text stack"
        )
    folder = save_real_model(spec, out)
    typer.echo(
        f"{arch} {spec.size} ({spec.text_layers} text layers, {needed / 2**30:.2f} GiB of {spec.dtype} weights) "
        f"saved to {folder}"
    )


@model_app.command("merge-lora")
def merge_lora(
    base: Path = typer.Option(..., "--base", help="Base model folder."),
    adapter: Path = typer.Option(..., "--adapter", help="peft LoRA adapter folder (e.g. a checkpoint)."),
    out: Path = typer.Option(..., "--out", help="Folder for the merged model."),
) -> None:
    """Merge a LoRA adapter into its base model and save a plain checkpoint (safetensors + processor)."""
    from geor1.models import merge_lora as merge

    folder = merge(base, adapter, out)
    typer.echo(f"merged model saved to {folder}")


def register(app: typer.Typer) -> None:
    """Attach the ``model`` group to the main app."""
    app.add_typer(model_app, name="model")
