"""``geo-r1 model …``: build tiny VLMs for CPU runs, merge LoRA adapters."""

from __future__ import annotations

from pathlib import Path

import typer

model_app = typer.Typer(help="Build tiny models and merge LoRA adapters.", no_args_is_help=True)


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
    try:
        spec.check()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    folder = save_tiny_model(spec, out)
    typer.echo(f"tiny {arch} model saved to {folder}")


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
