"""Does GRPO with only the verifiable pairing reward lift held-out accuracy on a pairing variant whose
answer is certainly in the pixels?

The check that the RL loop itself learns, apart from how hard the demo's cross-view pairs are. From a
demo run folder it builds the ``same-view`` variant of the run's pairing files: every candidate is
replaced by the view of its place of the query's kind, so the positive is the query image itself and the
negatives are views of the same kind of other places (the prompt's labels say so). Then it trains GRPO
(``geo-r1 grpo`` with the run's own GRPO config: the same rewards, group size and completion budget;
``--lr``, ``--beta`` and ``--steps`` on top) from ``--model`` on the variant's training places, saves a
checkpoint every ``--every`` steps, and evaluates the start model and every checkpoint on the variant's
held-out places with greedy decoding (``geo-r1 eval run``). It prints held-out accuracy by step with 95 %
bootstrap CIs, the paired change over the start with its CI, and the training reward by step:

    python benchmarks/grpo_learns.py --run runs/demo --model base --steps 300 --every 100
    python benchmarks/grpo_learns.py --run runs/demo --model sft --variant pairing --steps 200

``--variant pairing`` runs the same loop on the run's own cross-view files (the demo's GRPO, longer).
Everything is written under ``--out`` (default ``<run>/grpo_learns/<variant>-<model>``; the run
folder itself is only read): the variant's task files, the GRPO run with its checkpoints and
``metrics.jsonl``, one eval folder per checkpoint and ``summary.json``. A finished checkpoint's evaluation is reused when the script is run again.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from geor1.io import read_jsonl, write_json, write_jsonl

KIND_LABEL = re.compile(r"\((\w+) view\):$")


def same_view(example: dict[str, Any], data_dir: Path, out: Path) -> dict[str, Any]:
    """Return the same-view variant of one pairing example of ``data_dir``, its image paths relative to
    ``out``: each candidate image replaced by its place's view of the query's kind (the positive becomes
    the query image itself) and the labels renamed."""
    meta = example["meta"]
    query_kind, candidate_kind = meta["query_view"], meta["candidate_view"]
    images = [data_dir / example["images"][0]]
    for rel in example["images"][1:]:
        path = data_dir / rel
        swapped = path.with_name(path.name.replace(candidate_kind, query_kind))
        if swapped == path or not swapped.is_file():
            raise SystemExit(f"error: {swapped}: no {query_kind} view beside candidate {path}")
        images.append(swapped)
    if images[1 + meta["answer_index"]] != images[0]:
        raise SystemExit(f"error: example {example['id']}: the positive's {query_kind} view is not the query")
    content = []
    for block in example["prompt"][0]["content"]:
        text = block.get("text")
        if block.get("type") == "text" and text and text.startswith("Candidate "):
            block = {**block, "text": KIND_LABEL.sub(f"({query_kind} view):", text)}
        content.append(block)
    return {
        **example,
        "id": f"{example['id']}#same-view",
        "images": [os.path.relpath(image, out) for image in images],
        "prompt": [{**example["prompt"][0], "content": content}],
        "meta": {**meta, "candidate_view": query_kind, "variant": "same-view"},
    }


def write_variant(run: Path, variant: str, out: Path) -> tuple[Path, Path]:
    """Write the variant's train and test task files into ``out`` and return their paths (``pairing``:
    the run's own files)."""
    data = run / "data"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for split in ("train", "test"):
        source = data / f"pairing_{split}.jsonl"
        if not source.is_file():
            raise SystemExit(f"error: {source}: missing; --run needs a demo run folder")
        if variant == "pairing":
            paths.append(source)
            continue
        target = out / f"{variant}_{split}.jsonl"
        write_jsonl(target, (same_view(e, data, out) for e in read_jsonl(source)))
        paths.append(target)
    return paths[0], paths[1]


def geo_r1(*args: str, log: Path) -> None:
    """Run ``geo-r1 ARGS`` (this interpreter's geor1) with its output in ``log``; exit on failure."""
    with log.open("w", encoding="utf-8") as handle:
        done = subprocess.run([sys.executable, "-m", "geor1", *args], stdout=handle, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8").strip().splitlines()[-5:]
        raise SystemExit(
            f"error: geo-r1 {args[0]} failed (exit {done.returncode}, {log}):\n" + "\n".join(tail)
        )


def evaluate(model: Path, test: Path, out: Path, name: str, max_new_tokens: int, seed: int) -> dict[str, Any]:
    """Evaluate ``model`` on the pairing file ``test`` (greedy) into ``out/name``; return its eval doc."""
    doc_path = out / name / "eval" / "pairing.json"
    if not doc_path.is_file():
        geo_r1(
            "eval", "run", "--model", str(model), "--tasks", "pairing", "--data", f"pairing={test}",
            "--run", name, "--runs-dir", str(out), "--batch-size", "16", "--max-new-tokens", str(max_new_tokens),
            "--seed", str(seed), "--no-plots",
            log=out / f"{name}.eval.log",
        )  # fmt: skip
    return json.loads(doc_path.read_text(encoding="utf-8"))


def accuracy(doc: dict[str, Any], seed: int) -> tuple[float, list[float]]:
    """Return the eval doc's pairing accuracy and its 95 % bootstrap CI."""
    from geor1.demo.report import metric_with_ci

    found = metric_with_ci(doc, "accuracy", seed=seed, n_boot=1000)
    return found["value"], found["ci"]


def reward_by_step(metrics: Path, every: int) -> dict[int, float]:
    """Return the mean accuracy reward over each block of ``every`` training steps, keyed by its last step."""
    records = read_jsonl(metrics) if metrics.is_file() else []
    rewards = [r["rewards/accuracy/mean"] for r in records if "rewards/accuracy/mean" in r]
    return {
        i + every: sum(rewards[i : i + every]) / len(rewards[i : i + every])
        for i in range(0, len(rewards), every)
    }


def main() -> None:
    """Build the variant, train GRPO with checkpoints, evaluate each and print the learning curve."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, required=True, help="a geo-r1 demo run folder")
    parser.add_argument("--model", default="base", help="start model: a folder under <run>/models")
    parser.add_argument("--variant", choices=("same-view", "pairing"), default="same-view")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--every", type=int, default=100, help="checkpoint and evaluate every N steps")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--beta", type=float, default=0.04)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="default: <run>/grpo_learns/<variant>-<model>")
    args = parser.parse_args()

    from geor1.demo.report import paired_delta

    start = args.run / "models" / args.model
    template = args.run / "models" / "sft_grpo" / "config.yaml"
    for needed in (start / "config.json", template):
        if not needed.is_file():
            raise SystemExit(
                f"error: {needed}: missing; --run needs a finished demo run and --model a model in it"
            )
    out = args.out or args.run / "grpo_learns" / f"{args.variant}-{args.model}"
    train, test = write_variant(args.run, args.variant, out)
    completion = int(yaml.safe_load(template.read_text(encoding="utf-8"))["max_completion_length"])
    model_dir = out / "model"
    if not (model_dir / "model.safetensors").is_file():
        geo_r1(
            "grpo", str(template), "--model_name_or_path", str(start), "--train_file", str(train),
            "--output_dir", str(model_dir), "--max_steps", str(args.steps), "--learning_rate", str(args.lr),
            "--beta", str(args.beta), "--seed", str(args.seed), "--save_strategy", "steps",
            "--save_steps", str(args.every), "--save_only_model", "true",
            # every checkpoint is evaluated, so none may be rotated away
            "--save_total_limit", str(args.steps // args.every + 1),
            log=out / "grpo.log",
        )  # fmt: skip
    docs = {0: evaluate(start, test, out, "step0", completion, args.seed)}
    for step in range(args.every, args.steps + 1, args.every):
        checkpoint = model_dir / f"checkpoint-{step}"
        if step == args.steps and not checkpoint.is_dir():
            checkpoint = model_dir  # the final model, when the last interval ended without a checkpoint
        if checkpoint.is_dir():
            docs[step] = evaluate(checkpoint, test, out, f"step{step}", completion, args.seed)
    rewards = reward_by_step(model_dir / "metrics.jsonl", args.every)
    print(
        f"GRPO on the {args.variant} variant from {args.model}: lr {args.lr}, beta {args.beta}, seed {args.seed}"
    )
    print(
        "| step | held-out accuracy [95 % CI] | change over step 0 [paired 95 % CI] | training accuracy reward |"
    )
    print("|---|---|---|---|")
    summary = []
    for step, doc in docs.items():
        value, ci = accuracy(doc, args.seed)
        delta = paired_delta(doc, docs[0], "accuracy", seed=args.seed, n_boot=1000)
        change = (
            f"{100 * delta['value']:+.1f} [{100 * delta['ci'][0]:+.1f}, {100 * delta['ci'][1]:+.1f}]"
            if step
            else ""
        )
        reward = f"{rewards[step]:.3f}" if step in rewards else ""
        print(f"| {step} | {100 * value:.1f} [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}] | {change} | {reward} |")
        summary.append(
            {"step": step, "accuracy": value, "ci": ci, "change": delta, "train_reward": rewards.get(step)}
        )
    k = read_jsonl(test)[0]["meta"]["k"]
    print(f"held-out queries: {len(docs[0]['examples'])}; chance {100 / k:.0f} %")
    settings = {name: str(value) for name, value in vars(args).items()}
    write_json(out / "summary.json", {"args": settings, "curve": summary})


if __name__ == "__main__":
    main()
