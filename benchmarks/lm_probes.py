"""Can the demo's tiny language model learn to compare things in its context at all?

GRPO on cross-view pairing can only reinforce a comparison the policy can already make now and then.
These probes bound what any answer-letter signal (a reward, or the stronger supervised label) can teach
the demo's tiny model in CPU minutes, by training it directly with cross-entropy on the answer letter
(``<think>compare</think><answer>`` then the letter, teacher-forced, no generation):

- ``pairing``: the demo's held-out pairing task (satellite → context, K = 4);
- ``identical``: the same prompts with the positive replaced by the query image itself (the answer is
  certainly in the pixels);
- ``adjacent``: one candidate at a time, right after the query (``Query: <q> Candidate: <c> Same place?``),
  trained as yes/no (letters A/B) on the positive and one negative; the K-way answer is the candidate
  with the highest yes-score (pointwise ranking);
- ``interleaved``: the K-way prompt with the query repeated right before every candidate
  (``<q> <cA> A. <q> <cB> B. …``) and the answer letter as the label;
- ``recall``: text only, no image: ``query: w. A: w0. B: w1. C: w2. D: w3. query:`` → the letter whose
  word equals the query's (associative recall over single tokens).

``--contrastive N`` first pretrains the vision tower for N steps (``geor1.train.contrastive``) and prints
how often the tower alone picks the answer by cosine. Accuracy on held-out examples is printed every
``--every`` steps. Needs a demo run folder (``geo-r1 demo`` or ``benchmarks/demo_tuning.py``) for its
data and base model:

    python benchmarks/lm_probes.py --run runs/demo --probe identical --steps 600
    python benchmarks/lm_probes.py --run runs/demo --probe pairing --contrastive 300 --steps 1200 --lr 3e-3
    python benchmarks/lm_probes.py --run runs/demo --probe recall --steps 3000 --lr 1e-2
    python benchmarks/lm_probes.py --run runs/demo --probe adjacent --steps 1500 --every 250
    python benchmarks/lm_probes.py --run runs/demo --probe interleaved --steps 1500 --every 250

``--model`` picks another model folder under ``<run>/models``, e.g. one built with
``geo-r1 model tiny --heads 8 --kv-heads 8 …`` to see how the attention layout changes what is learnt.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path
from typing import Any


def letter_ids(tokenizer: Any) -> list[int]:
    """Return the token ids of the answer letters A–D (each a single token in geor1's tokenizers)."""
    ids = [tokenizer.encode(letter, add_special_tokens=False) for letter in "ABCD"]
    if any(len(i) != 1 for i in ids):
        raise SystemExit(f"answer letters are not single tokens: {ids}")
    return [i[0] for i in ids]


def image_probe(args: argparse.Namespace) -> None:
    """Train the image probes (pairing, identical, adjacent, interleaved) and print held-out K-way accuracy."""
    import torch

    from geor1.images import open_image
    from geor1.models import load_model, load_processor
    from geor1.records import read_task_file

    run = Path(args.run)
    model_dir = run / "models" / args.model
    if args.contrastive:
        from geor1.train.contrastive import ContrastiveConfig, pretrain_vision, retrieval_accuracy

        train_places = {str(e.meta["place"]) for e in read_task_file(run / "data/pairing_train.jsonl")}
        out = Path(args.workdir) / "vision"
        pretrain_vision(
            model_dir,
            run / "data/earth/views.jsonl",
            out,
            ContrastiveConfig(steps=args.contrastive, text_weight=args.text_weight, seed=args.seed),
            places=train_places,
        )
        print(
            f"vision tower alone, held-out pairing by cosine: {retrieval_accuracy(out, run / 'data/pairing_test.jsonl'):.3f}"
        )
        model_dir = out
    model, processor = load_model(model_dir, dtype="float32"), load_processor(model_dir)
    letters = letter_ids(processor.tokenizer)
    cache: dict[Path, Any] = {}

    def examples(name: str) -> list[tuple[dict[str, Any], list[Path]]]:
        path = run / "data" / name
        rows = []
        for task_example in read_task_file(path):
            example, images = task_example.to_dict(), [Path(p) for p in task_example.images]
            if args.probe == "identical":
                images[1 + "ABCD".index(example["solution"])] = images[0]
            rows.append((example, images))
        return rows

    def image(path: Path) -> Any:
        if path not in cache:
            cache[path] = open_image(path)
        return cache[path]

    train, test = examples("pairing_train.jsonl"), examples("pairing_test.jsonl")

    if args.probe == "adjacent":
        single = [
            {"type": "text", "text": "Query:"},
            {"type": "image"},
            {"type": "text", "text": "Candidate:"},
            {"type": "image"},
            {"type": "text", "text": "Were both taken at the same place? A yes, B no."},
        ]
        prefix = _prefix(processor, single)

        def pair_scores(pairs: list[tuple[Path, Path]]) -> Any:
            inputs = processor(
                text=[prefix] * len(pairs),
                images=[image(p) for pair in pairs for p in pair],
                return_tensors="pt",
            )
            out = model(**inputs).logits[:, -1, letters[:2]]
            return out[:, 0] - out[:, 1]

        def logits(batch: list[tuple[dict[str, Any], list[Path]]]) -> Any:
            pairs = [(images[0], c) for _, images in batch for c in images[1:]]
            return pair_scores(pairs).view(len(batch), -1)

        def sample() -> tuple[list, Any]:
            pairs, labels = [], []
            for example, images in random.sample(train, max(1, args.batch // 2)):
                answer = "ABCD".index(example["solution"])
                negative = random.choice([i for i in range(len(images) - 1) if i != answer])
                pairs += [(images[0], images[1 + answer]), (images[0], images[1 + negative])]
                labels += [1.0, 0.0]
            return pairs, torch.tensor(labels)

        def loss_of(pairs: list, labels: Any) -> Any:
            return torch.nn.functional.binary_cross_entropy_with_logits(pair_scores(pairs), labels)

    else:
        interleaved = [{"type": "text", "text": "Query:"}, {"type": "image"}]
        for letter in "ABCD":
            interleaved += [{"type": "image"}, {"type": "image"}, {"type": "text", "text": f"{letter}."}]
        interleaved.append(
            {"type": "text", "text": "Which candidate was taken at the query place? Answer with its letter."}
        )

        def order(images: list[Path]) -> list[Path]:
            if args.probe != "interleaved":
                return images
            return [images[0]] + [p for candidate in images[1:] for p in (images[0], candidate)]

        def text(example: dict[str, Any]) -> str:
            if args.probe == "interleaved":
                return _prefix(processor, interleaved)
            return (
                processor.apply_chat_template(example["prompt"], tokenize=False, add_generation_prompt=True)
                + "<think>compare</think><answer>"
            )

        def logits(batch: list[tuple[dict[str, Any], list[Path]]]) -> Any:
            inputs = processor(
                text=[text(e) for e, _ in batch],
                images=[image(p) for _, ps in batch for p in order(ps)],
                return_tensors="pt",
                padding=True,
            )
            return model(**inputs).logits[:, -1, letters]

        def sample() -> tuple[list, Any]:
            batch = random.sample(train, args.batch)
            return batch, torch.tensor(["ABCD".index(e["solution"]) for e, _ in batch])

        def loss_of(batch: list, answers: Any) -> Any:
            return torch.nn.functional.cross_entropy(logits(batch), answers)

    def accuracy() -> float:
        model.eval()
        right = 0
        with torch.no_grad():
            for i in range(0, len(test), 32):
                batch = test[i : i + 32]
                pred = logits(batch).argmax(1).tolist()
                right += sum("ABCD"[p] == e["solution"] for p, (e, _) in zip(pred, batch, strict=True))
        model.train()
        return right / len(test)

    train_loop(model, args, sample, loss_of, accuracy)


def _prefix(processor: Any, content: list[dict[str, Any]]) -> str:
    """Return the chat-template text of one user turn, opened for the answer."""
    conversation = [{"role": "user", "content": content}]
    return (
        processor.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True) + "<answer>"
    )


def recall_probe(args: argparse.Namespace) -> None:
    """Train on text-only associative recall over single tokens with the answer letter as the label."""
    import torch

    from geor1.models import load_model, load_processor

    model_dir = Path(args.run) / "models" / args.model
    model, tokenizer = load_model(model_dir, dtype="float32"), load_processor(model_dir).tokenizer
    letters = letter_ids(tokenizer)
    colon, dot = (tokenizer.encode(t, add_special_tokens=False)[0] for t in (":", "."))
    query = tokenizer.encode("query", add_special_tokens=False)[0]
    words = [i for i in range(100, min(900, len(tokenizer))) if i not in letters]

    def sequences(n: int, rng: random.Random) -> tuple[Any, list[int]]:
        rows, answers = [], []
        for _ in range(n):
            chosen, answer = rng.sample(words, 4), rng.randrange(4)
            seq = [query, colon, chosen[answer], dot]
            for letter, word in zip(letters, chosen, strict=True):
                seq += [letter, colon, word, dot]
            rows.append(seq + [query, colon])
            answers.append(answer)
        return torch.tensor(rows), answers

    rng, held_rng = random.Random(args.seed), random.Random(args.seed + 1)
    held_x, held_y = sequences(512, held_rng)

    def logits(x: Any) -> Any:
        return model(input_ids=x).logits[:, -1, letters]

    def accuracy() -> float:
        with torch.no_grad():
            return float((logits(held_x).argmax(1) == torch.tensor(held_y)).float().mean())

    def loss_of(x: Any, answers: list[int]) -> Any:
        return torch.nn.functional.cross_entropy(logits(x), torch.tensor(answers))

    train_loop(model, args, lambda: sequences(args.batch, rng), loss_of, accuracy)


def train_loop(model: Any, args: argparse.Namespace, sample: Any, loss_of: Any, accuracy: Any) -> None:
    """AdamW on ``loss_of(*sample())``; print held-out accuracy every ``args.every`` steps."""
    import torch

    if args.freeze_visual:
        # keeps the visual tokens as the tower gives them: only the language model learns to compare
        for param in model.model.visual.parameters():
            param.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    started = time.perf_counter()
    print(f"step 0: held-out accuracy {accuracy():.3f} (chance 0.25)", flush=True)
    for step in range(1, args.steps + 1):
        loss = loss_of(*sample())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % args.every == 0 or step == args.steps:
            print(
                f"step {step}: loss {loss.item():.3f}, held-out accuracy {accuracy():.3f} "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", required=True, help="A demo run folder (data/ and models/).")
    parser.add_argument(
        "--probe", choices=("pairing", "identical", "adjacent", "interleaved", "recall"), default="identical"
    )
    parser.add_argument("--model", default="base", help="Model folder under <run>/models.")
    parser.add_argument("--contrastive", type=int, default=0, help="Pretrain the vision tower N steps first.")
    parser.add_argument("--text-weight", type=float, default=0.0, help="Image–text term of that pretraining.")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--freeze-visual", action="store_true", help="Train the language model only, not the vision tower."
    )
    parser.add_argument("--workdir", default="/tmp/lm_probes")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(1)
    print(json.dumps(vars(args)))
    (recall_probe if args.probe == "recall" else image_probe)(args)


if __name__ == "__main__":
    main()
