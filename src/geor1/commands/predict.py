"""``geo-r1 predict``: ask a trained model about images; print the reasoning and the answer."""

from __future__ import annotations

from pathlib import Path

import typer


def predict_command(
    images: list[Path] = typer.Argument(
        ..., help="Image files (pair: the query first, then the candidates)."
    ),
    model: Path = typer.Option(..., "--model", help="Model folder (save_pretrained layout)."),
    task: str = typer.Option(
        "geolocate", "--task", help="geolocate | pair (ignored when --question is given)."
    ),
    question: str = typer.Option("", "--question", help="Ask this instead of a task's question."),
    map_html: Path = typer.Option(None, "--map", help="Write a Leaflet map of the guessed coordinates here."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="0 = greedy."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Print MODEL's reasoning and answer for IMAGES (and, for coordinates, the nearest place)."""
    from rich.console import Console
    from rich.panel import Panel
    from rich.text import Text

    from geor1.predict import TASKS, predict, write_map

    console = Console()
    kind = "question" if question else task
    if kind not in TASKS:
        raise typer.BadParameter(f"choose from {', '.join(TASKS[:2])}", param_hint="--task")
    if not (model / "config.json").is_file():
        raise typer.BadParameter(f"{model} has no config.json", param_hint="--model")
    with console.status("thinking…"):
        pred = predict(
            model,
            list(images),
            task=kind,
            question=question or None,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            seed=seed,
        )
    # Model text is shown as plain Text: read as rich markup, "[/]" would raise and "[b]" would vanish.
    if pred.untagged:
        # The text is one untagged answer; showing it as reasoning and again as answer misleads.
        untagged = Text(pred.completion or "(empty)")
        console.print(Panel(untagged, title="model output (no <think>/<answer> tags)", expand=False))
    else:
        reasoning = Text(pred.reasoning or "(no <think> part)")
        console.print(Panel(reasoning, title="reasoning", expand=False))
        console.print(Panel(Text(pred.answer or "(no answer)"), title="answer", style="bold", expand=False))
    if kind == "pair":
        console.print(f"chosen candidate: {pred.choice or 'none (unparseable)'}", markup=False)
    if pred.coordinates is not None:
        lat, lon = pred.coordinates
        where = ""
        if pred.place:
            where = f" — nearest place {pred.place['city']}, {pred.place['admin1'] or ''} {pred.place['country_code']}"
            where += f" ({pred.place['distance_km']:.0f} km away)"
        console.print(f"coordinates: ({lat:.4f}, {lon:.4f}){where}", markup=False)
    if map_html is not None:
        if pred.coordinates is None:
            console.print("[yellow]no coordinates in the answer; no map written[/yellow]")
        else:
            console.print(f"map: {write_map(map_html, pred)}", markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``predict`` command."""
    app.command("predict")(predict_command)
