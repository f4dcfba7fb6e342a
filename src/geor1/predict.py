"""Ask a trained model about images from Python or the CLI (``geo-r1 predict``).

Three prompt kinds: ``geolocate`` (one image → "(lat, lon)"), ``pair`` (a query image then K candidates,
the cross-view pairing question) and a free ``question`` over any images. Prompts are built exactly as the
training and evaluation tasks build them, so a model answers in the form it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geor1.errors import ConfigError, GeoR1Error
from geor1.records import user_prompt

TASKS = ("geolocate", "pair", "question")


def build_prompt(
    task: str, n_images: int, question: str | None = None, view: str = "photo"
) -> list[dict[str, Any]]:
    """Return the conversational prompt for ``task`` over ``n_images`` images."""
    from geor1.builders.geolocation import QUESTION as GEOLOCATION_QUESTION
    from geor1.builders.pairing import QUESTION as PAIRING_QUESTION
    from geor1.parsing import option_letters

    if task == "question":
        if not question:
            raise ConfigError("question", "a free question needs the question text")
        return user_prompt(question, n_images)
    if task == "geolocate":
        if n_images != 1:
            raise ConfigError("task", f"geolocate takes exactly one image, got {n_images}")
        return user_prompt(question or GEOLOCATION_QUESTION, 1)
    if task == "pair":
        if not 3 <= n_images <= 9:
            raise ConfigError("task", f"pair takes a query and 2-8 candidates, got {n_images} images")
        letters = option_letters(n_images - 1)
        labels = [f"Query ({view} view):"] + [f"Candidate {letter}:" for letter in letters]
        return user_prompt(question or PAIRING_QUESTION, n_images, labels)
    raise GeoR1Error(f"unknown task {task!r}; choose from {', '.join(TASKS)}")


@dataclass
class Prediction:
    """A model's answer: the raw completion, its reasoning and answer parts, and what they parse to."""

    completion: str
    reasoning: str | None
    answer: str
    choice: str | None = None
    coordinates: tuple[float, float] | None = None
    place: dict[str, Any] | None = field(default=None)

    @property
    def untagged(self) -> bool:
        """Return True when the completion has neither a ``<think>`` part nor a complete ``<answer>`` block
        (its answer is then the whole text, as ``geor1.judge.answer_text`` reads it without tags)."""
        from geor1.parsing import extract_answer

        return self.reasoning is None and extract_answer(self.completion) is None


def interpret(completion: str, task: str, n_images: int) -> Prediction:
    """Return the Prediction parsed from ``completion`` (letter for pair, coordinates + nearest place for
    geolocate or any answer that reads as coordinates)."""
    import re

    from geor1.judge import answer_text, read_choice, read_point

    think = re.search(r"<think>(.*?)</think>", completion, flags=re.DOTALL)
    pred = Prediction(
        completion=completion,
        reasoning=think.group(1).strip() if think else None,
        answer=answer_text(completion, require_tags=False) or "",
    )
    if task == "pair":
        pred.choice = read_choice(completion, n_images - 1, require_tags=False)
    else:
        pred.coordinates = read_point(completion, require_tags=False)
        if pred.coordinates is not None:
            from geor1.eval.placetruth import reverse_geocode

            pred.place = reverse_geocode(*pred.coordinates)
    return pred


def predict(
    model: str | Path,
    images: list[str | Path],
    *,
    task: str = "geolocate",
    question: str | None = None,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    seed: int = 0,
    backend: Any = None,
) -> Prediction:
    """Return the model's Prediction for ``images`` (paths) under ``task``; ``backend`` may be a loaded
    ``geor1.eval.backends.hf.HFBackend`` to reuse across calls."""
    from geor1.eval.types import EvalExample, SamplingConfig
    from geor1.images import open_image

    paths = [Path(p) for p in images]
    for p in paths:
        open_image(p)  # missing or corrupt files fail here with the file named
    prompt = build_prompt(task, len(paths), question)
    if backend is None:
        from geor1.eval.backends.hf import HFBackend

        backend = HFBackend(str(model), batch_size=1)
    example = EvalExample(id="predict", prompt=prompt, images=[str(p) for p in paths], solution=None)
    sampling = SamplingConfig(temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
    completion = backend.generate([example], sampling)[0]
    return interpret(completion, task, len(paths))


def write_map(path: str | Path, prediction: Prediction, title: str = "geor1 guess") -> Path:
    """Write a self-contained HTML map with the guessed coordinates marked and return its path: the same
    vendored Leaflet and Blue Marble world as ``geo-r1 serve``'s page, inlined, so it works offline (no
    CDN, no tile server)."""
    from geor1.io import atomic_write_text
    from geor1.serve.page import standalone_map_html

    if prediction.coordinates is None:
        raise GeoR1Error("the answer has no coordinates to put on a map")
    lat, lon = prediction.coordinates
    label = f"{title}: ({lat:.4f}, {lon:.4f})"
    if prediction.place:
        label += f" near {prediction.place.get('city')}, {prediction.place.get('country_code')}"
    return atomic_write_text(path, standalone_map_html(lat, lon, label, title))
