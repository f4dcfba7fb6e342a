"""Contrastive pretraining of a VLM's vision tower on views of places (CLIP/SigLIP-style).

A real VLM meets post-training with a vision tower that was pretrained contrastively on image–text or
image–image pairs; a randomly initialised tiny model has none, and its language model then has nothing
to reason about. This stage gives the tiny model that starting point: for a batch of places, two views
of different kinds of each place (say its satellite and its context view) are embedded by the model's
own vision tower (the merged visual tokens the language model reads, mean-pooled per image), and a
symmetric InfoNCE loss pulls the two views of one place together and pushes every other place of the
batch away. A second, image–text term (``text_weight``) aligns every view with the words that describe
its place (``geor1.builders.describe.view_words``: main land cover, continent) as the language model embeds
them: the view's embedding is scored against the embeddings of every description seen in training and
trained to pick its own (CLIP's zero-shot classifier, with the LM's own token embeddings as the text
tower), so a visual token reads to the language model like the words of its place. Only the vision
tower is trained; the language model is untouched.

It uses views of the places it is given only (the demo passes its training places) and never a pairing
example. Progress and loss go to ``<out>/metrics.jsonl``; the model and processor are saved to ``out``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from geor1.errors import ConfigError
from geor1.parsing import OPTION_LETTERS


@dataclass
class ContrastiveConfig:
    """Settings of the contrastive vision pretraining.

    ``kinds`` are the view kinds drawn from (each step pairs two different kinds of every place in the
    batch, chosen at random per step); ``batch`` places per step; ``temperature`` of the InfoNCE logits.
    """

    kinds: list[str] = field(default_factory=lambda: ["satellite", "context"])
    steps: int = 300
    batch: int = 64
    lr: float = 3e-3
    temperature: float = 0.07
    text_weight: float = 1.0
    seed: int = 0

    def check(self) -> None:
        """Raise ConfigError naming the field of an impossible setting."""
        if len(set(self.kinds)) < 2:
            raise ConfigError("kinds", f"needs at least two different view kinds, got {self.kinds}")
        for name in ("steps", "batch"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be at least 1, got {getattr(self, name)}")
        if self.batch < 2:
            raise ConfigError("batch", "a contrastive batch needs at least 2 places")
        if not self.lr > 0:
            raise ConfigError("lr", f"must be positive, got {self.lr}")
        if not self.temperature > 0:
            raise ConfigError("temperature", f"must be positive, got {self.temperature}")
        if self.text_weight < 0:
            raise ConfigError("text_weight", f"must be at least 0, got {self.text_weight}")


def place_views(
    views_file: str | Path, kinds: Iterable[str], places: set[str] | None = None
) -> dict[str, dict[str, Path]]:
    """Return ``{place: {kind: image path}}`` for the places that have every one of ``kinds`` (only
    ``places`` when given), reading a view manifest (``views.jsonl``)."""
    return place_views_and_words(views_file, kinds, places)[0]


def place_views_and_words(
    views_file: str | Path, kinds: Iterable[str], places: set[str] | None = None
) -> tuple[dict[str, dict[str, Path]], dict[str, str]]:
    """Return ``place_views`` and, for the same places, the words describing each place
    (``view_words`` of its first view's metadata)."""
    from geor1.builders.common import load_view_set
    from geor1.builders.describe import view_words

    view_set = load_view_set(views_file)
    wanted = set(kinds)
    found: dict[str, dict[str, Path]] = {}
    words: dict[str, str] = {}
    for i, view in enumerate(view_set.views):
        if view.view in wanted and (places is None or view.place in places):
            found.setdefault(view.place, {}).setdefault(view.view, view_set.image_path(i))
            words.setdefault(view.place, view_words(view.meta))
    kept = {place: kv for place, kv in sorted(found.items()) if set(kv) == wanted}
    return kept, {place: words[place] for place in kept}


def word_embeddings(model: Any, tokenizer: Any, texts: list[str]) -> Any:
    """Return one vector per text: the mean of the language model's input embeddings of its tokens."""
    import torch

    table = model.get_input_embeddings().weight
    with torch.no_grad():
        return torch.stack(
            [table[tokenizer.encode(" " + text, add_special_tokens=False)].mean(0) for text in texts]
        )


def image_embeddings(model: Any, processor: Any, images: list[Any]) -> Any:
    """Return one vector per image: the mean of the visual tokens the language model would read."""
    import torch

    inputs = processor.image_processor(images=images, return_tensors="pt")
    grid = inputs["image_grid_thw"]
    features = model.model.get_image_features(inputs["pixel_values"], grid)
    tokens = getattr(features, "pooler_output", features)
    if isinstance(tokens, torch.Tensor):
        merge = processor.image_processor.merge_size**2
        sizes = (grid.prod(-1) // merge).tolist()
        tokens = torch.split(tokens, sizes)
    return torch.stack([t.mean(0) for t in tokens])


def info_nce(a: Any, b: Any, temperature: float) -> tuple[Any, float]:
    """Return the symmetric InfoNCE loss of two batches of paired embeddings and the share of rows whose
    best match (cosine) is their own pair."""
    import torch
    import torch.nn.functional as F

    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = a @ b.T / temperature
    target = torch.arange(len(a))
    loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    return loss, float((logits.argmax(1) == target).float().mean())


def text_classification_loss(images: Any, text: Any, labels: Any, temperature: float) -> Any:
    """Return the cross-entropy of scoring each image embedding (cosine / temperature) against every
    description embedding in ``text``, the right one being ``labels``."""
    import torch.nn.functional as F

    logits = F.normalize(images, dim=-1) @ F.normalize(text, dim=-1).T / temperature
    return F.cross_entropy(logits, labels)


def pretrain_vision(
    model_dir: str | Path,
    views_file: str | Path,
    out: str | Path,
    config: ContrastiveConfig,
    *,
    places: set[str] | None = None,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
) -> dict[str, Any]:
    """Train the vision tower of the model in ``model_dir`` contrastively on views of ``places`` (every
    place of the manifest when None) and save model + processor to ``out``; return a summary."""
    import torch

    from geor1.images import open_image
    from geor1.io import JsonlAppender, write_json
    from geor1.models import load_model, load_processor

    config.check()
    pairs, words = place_views_and_words(views_file, config.kinds, places)
    if len(pairs) < config.batch:
        raise ConfigError(
            "batch",
            f"{len(pairs)} places have every view kind of {config.kinds} in {views_file}; "
            f"need at least batch={config.batch}",
        )
    model = load_model(model_dir, dtype="float32")
    processor = load_processor(model_dir)
    vision = model.model.visual
    for param in model.parameters():
        param.requires_grad_(False)
    for param in vision.parameters():
        param.requires_grad_(True)
    optimizer = torch.optim.AdamW(vision.parameters(), lr=config.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.steps, pct_start=0.1
    )
    rng = random.Random(config.seed)
    names = sorted(pairs)
    descriptions = sorted(set(words.values()))
    text = word_embeddings(model, processor.tokenizer, descriptions).detach()
    label_of = {place: descriptions.index(words[place]) for place in names}
    cache: dict[Path, Any] = {}

    def image(path: Path) -> Any:
        if path not in cache:
            cache[path] = open_image(path)
        return cache[path]

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metrics_path = out / "metrics.jsonl"
    if metrics_path.exists():
        metrics_path.unlink()
    started = time.perf_counter()
    last: dict[str, float] = {}
    model.train()
    with torch.random.fork_rng(devices=[]), JsonlAppender(metrics_path) as log:
        torch.manual_seed(config.seed)
        for step in range(1, config.steps + 1):
            batch = rng.sample(names, config.batch)
            kind_a, kind_b = rng.sample(config.kinds, 2)
            a = image_embeddings(model, processor, [image(pairs[p][kind_a]) for p in batch])
            b = image_embeddings(model, processor, [image(pairs[p][kind_b]) for p in batch])
            loss, matched = info_nce(a, b, config.temperature)
            text_loss = torch.zeros(())
            if config.text_weight > 0:
                labels = torch.tensor([label_of[p] for p in batch] * 2)
                text_loss = text_classification_loss(torch.cat([a, b]), text, labels, config.temperature)
                loss = loss + config.text_weight * text_loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            last = {
                "step": step,
                "loss": round(loss.item(), 4),
                "text_loss": round(text_loss.item(), 4),
                "batch_match": round(matched, 4),
            }
            log.write({**last, "kinds": [kind_a, kind_b], "seconds": round(time.perf_counter() - started, 2)})
            if progress is not None:
                progress(step, config.steps, last)
    model.eval()
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    summary = {
        "places": len(pairs),
        "descriptions": len(descriptions),
        "final_text_loss": last.get("text_loss"),
        "steps": config.steps,
        "final_loss": last.get("loss"),
        "final_batch_match": last.get("batch_match"),
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json(out / "contrastive.json", {"config": asdict(config), "summary": summary})
    return summary


def retrieval_accuracy(model_dir: str | Path, examples_file: str | Path) -> float:
    """Return the share of pairing examples whose answer is the candidate with the highest cosine to the
    query in the vision tower's embedding (what the pretrained tower alone can tell apart)."""
    import torch
    import torch.nn.functional as F

    from geor1.images import open_image
    from geor1.models import load_model, load_processor
    from geor1.records import read_task_file

    model = load_model(model_dir, dtype="float32")
    processor = load_processor(model_dir)
    examples = read_task_file(examples_file)
    right = 0
    with torch.no_grad():
        for example in examples:
            images = [open_image(p) for p in example.images]
            emb = F.normalize(image_embeddings(model, processor, images), dim=-1)
            best = int((emb[1:] @ emb[0]).argmax())
            right += OPTION_LETTERS[best] == str(example.solution).strip()
    return right / len(examples) if examples else 0.0
