"""``geo-r1 serve``: an OpenAI-compatible HTTP server (and a small web page) for a trained model."""

from __future__ import annotations

from pathlib import Path

import typer


def serve(
    model: Path = typer.Option(..., "--model", help="Model folder (save_pretrained layout)."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind; keep loopback unless you add an API key."),
    port: int = typer.Option(8000, help="TCP port."),
    model_name: str = typer.Option("", help="Name reported in responses (default: the folder name)."),
    max_body_mb: float = typer.Option(20.0, help="Largest request body accepted (413 above)."),
    max_images: int = typer.Option(8, help="Most images one request may carry."),
    max_pixels: int = typer.Option(4096 * 4096, help="Most pixels one image may have (413 above)."),
    image_max_pixels: int = typer.Option(0, help="Processor pixel budget per image (0: as saved)."),
    timeout_s: float = typer.Option(
        120.0,
        help="Per-request time limit, waiting included (504 after; a generation already running still "
        "finishes, and holds its place in the queue until then).",
    ),
    max_queue: int = typer.Option(
        16,
        min=0,
        help="Requests allowed to wait while the model answers another (it answers one at a time); "
        "more get 503 at once.",
    ),
    api_key_env: str = typer.Option("GEOR1_API_KEY", help="Env var holding an API key to require (if set)."),
    max_prompt_tokens: int = typer.Option(
        0,
        min=0,
        help="Longest prompt in tokens, images included (400 above; 0: the model's context less max_tokens).",
    ),
) -> None:
    """Serve MODEL at /v1/chat/completions (OpenAI-compatible), / (web page) and /health.

    The model answers one request at a time; --max-queue more wait their turn.
    """
    import uvicorn

    from geor1.serve import ServeSettings, create_app
    from geor1.serve.engine import HFChatEngine

    if not (model / "config.json").is_file():
        raise typer.BadParameter(
            f"{model} has no config.json (expected a save_pretrained folder)", param_hint="--model"
        )
    engine = HFChatEngine(
        model,
        model_name=model_name or None,
        max_pixels=image_max_pixels or None,
        max_prompt_tokens=max_prompt_tokens or None,
    )
    settings = ServeSettings(
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        max_images=max_images,
        max_pixels=max_pixels,
        request_timeout_s=timeout_s,
        max_queue=max_queue,
        api_key_env=api_key_env,
    )
    uvicorn.run(create_app(engine, settings), host=host, port=port, log_level="info")


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command."""
    app.command("serve")(serve)
