"""Where does a demo model's pairing accuracy go: seeing the views, or reasoning over what it saw?

The demo's compact traces name each image by its land cover, then judge each candidate
(``<think>query: grassland. A: water, no. B: grassland, yes. …</think><answer>B</answer>``). That makes a
model's pairing answer decomposable from its own completion, on held-out places:

- **perception**: the share of images (query, candidates) whose cover word is the place's true cover;
- **reasoning**: the share of ``yes`` verdicts given to a candidate whose written cover equals the
  written query cover (the model acting on what it wrote), and of answers equal to a ``yes`` letter;
- **ceiling**: the accuracy of a reader with perfect perception that answers with a candidate of the
  query's cover (ties broken at random): what cover words alone allow on these examples.

For each seed folder it prints one row per model, then the paired difference SFT+GRPO − SFT of each
share over the same examples, with a 95 % percentile-bootstrap CI:

    python benchmarks/pairing_diagnosis.py runs/demo_seeds/seed0 runs/demo_seeds/seed1 runs/demo_seeds/seed2
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

QUERY = re.compile(r"query: ([^.,]*)[.,]")
CLAUSE = re.compile(r"\b([A-H]): ([^,.]*), (yes|no)\b")
ANSWER = re.compile(r"<answer>\s*([A-H])\s*</answer>")
MODELS = ("sft", "sft_grpo")
SHARES = ("accuracy", "query_cover", "candidate_cover", "yes_consistent", "answer_is_yes")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Return the records of a JSON-lines file."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def diagnose(completion: str, example: dict[str, Any], cover: dict[str, str]) -> dict[str, list[float]]:
    """Return the per-example observations of one pairing completion (each share's 0/1 items)."""
    meta = example["meta"]
    query = QUERY.search(completion)
    clauses = {letter: (word.strip(), verdict) for letter, word, verdict in CLAUSE.findall(completion)}
    answer = ANSWER.search(completion)
    said_query = query.group(1).strip() if query else None
    yes = [letter for letter, (_, verdict) in clauses.items() if verdict == "yes"]
    out: dict[str, list[float]] = {
        "accuracy": [float(bool(answer) and answer.group(1) == example["solution"])],
        "query_cover": [float(said_query == cover[meta["place"]])],
        "candidate_cover": [
            float(clauses.get("ABCDEFGH"[i], ("", ""))[0] == cover[place])
            for i, place in enumerate(meta["candidate_places"])
        ],
        "yes_consistent": [float(clauses[letter][0] == said_query) for letter in yes],
        "answer_is_yes": [float(bool(answer) and answer.group(1) in yes)] if yes else [],
    }
    return out


def ceiling(example: dict[str, Any], cover: dict[str, str]) -> float:
    """Return the expected accuracy of answering with a random candidate of the query's true cover."""
    meta = example["meta"]
    same = [i for i, place in enumerate(meta["candidate_places"]) if cover[place] == cover[meta["place"]]]
    return 1.0 / len(same) if meta["answer_index"] in same else 0.0


def seed_rows(run: Path) -> dict[str, Any]:
    """Return per-model, per-example observations and the cover-word ceiling of one demo run folder."""
    from geor1.builders.describe import cover_word

    cover = {p["place"]: cover_word(p["meta"]) for p in read_jsonl(run / "data/earth/places.jsonl")}
    examples = {e["id"]: e for e in read_jsonl(run / "data/pairing_test.jsonl")}
    result: dict[str, Any] = {"ceiling": statistics.mean(ceiling(e, cover) for e in examples.values())}
    for model in MODELS:
        path = run / "eval" / model / "eval/generations.jsonl"
        if path.exists():  # a run may have evaluated SFT only
            rows = [r for r in read_jsonl(path) if r["task"] == "pairing"]
            result[model] = {r["id"]: diagnose(r["completion"], examples[r["id"]], cover) for r in rows}
    return result


def share(per_example: dict[str, dict[str, list[float]]], key: str) -> float:
    """Return the pooled share of ``key`` over every item of every example."""
    items = [x for obs in per_example.values() for x in obs[key]]
    return sum(items) / len(items) if items else float("nan")


def paired_difference(a: dict[str, Any], b: dict[str, Any], key: str, seed: int) -> tuple[float, Any]:
    """Return (difference of pooled shares a − b, 95 % CI) resampling the shared examples."""
    import numpy as np

    ids = sorted(set(a) & set(b))
    rng = np.random.default_rng(seed)
    point = share({i: a[i] for i in ids}, key) - share({i: b[i] for i in ids}, key)
    draws = []
    for _ in range(1000):
        pick = [ids[j] for j in rng.integers(0, len(ids), len(ids))]
        sa = [x for i in pick for x in a[i][key]]
        sb = [x for i in pick for x in b[i][key]]
        if sa and sb:
            draws.append(sum(sa) / len(sa) - sum(sb) / len(sb))
    low, high = np.percentile(draws, [2.5, 97.5]) if draws else (float("nan"), float("nan"))
    return point, (float(low), float(high))


def main() -> None:
    """Print the decomposition for each run folder and the across-seed mean ± sd."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path, help="Demo run folders (one per seed).")
    args = parser.parse_args()
    header = "| run | model | " + " | ".join(SHARES) + " | cover ceiling |"
    print(header + "\n|" + "---|" * (len(SHARES) + 3))
    deltas: dict[str, list[float]] = {key: [] for key in SHARES}
    for seed, run in enumerate(args.runs):
        if not (run / "eval/sft/eval/generations.jsonl").exists():
            print(
                f"error: {run}: no eval/sft/eval/generations.jsonl (run geo-r1 demo first)", file=sys.stderr
            )
            raise SystemExit(2)
        rows = seed_rows(run)
        for model in (m for m in MODELS if m in rows):
            cells = " | ".join(f"{100 * share(rows[model], key):.1f}" for key in SHARES)
            print(f"| {run.name} | {model} | {cells} | {100 * rows['ceiling']:.1f} |")
        if not all(m in rows for m in MODELS):
            continue
        diffs = []
        for key in SHARES:
            point, (low, high) = paired_difference(rows["sft_grpo"], rows["sft"], key, seed)
            deltas[key].append(100 * point)
            diffs.append(f"{100 * point:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]")
        print(f"| {run.name} | SFT+GRPO − SFT | " + " | ".join(diffs) + " | |")
    runs = len(deltas["accuracy"])
    if runs > 1:
        cells = " | ".join(f"{statistics.mean(v):+.1f} ± {statistics.stdev(v):.1f}" for v in deltas.values())
        print(f"| mean ± sd ({runs} runs) | SFT+GRPO − SFT | {cells} | |")


if __name__ == "__main__":
    main()
