"""Benchmark: geor1's four Geo-R1 rewards and its vlmr1_* rewards vs the same four written the reference (VLM-R1) way.

Run: ``python benchmarks/rewards.py [--n 100000] [--batch 64] [--repeat 3] [--seed 0]``

Figures are CPU seconds of this process (the machine may be shared), best of ``--repeat`` passes; "vlmr1 != ref"
counts completions whose value differs at all (exact float comparison) between the ``vlmr1_*`` rewards and the
reference.

The "reference" below is our own re-implementation of the accuracy (MCQ letter match), format, cosine length
and 6-gram repetition rewards of VLM-R1's ``src/open-r1-multimodal/src/open_r1/grpo_jsonl.py`` (the code
Geo-R1's released training builds on), written to behave like theirs, line for line in logic:

- accuracy: the ``mcq`` method: the FIRST ``<answer>(.*?)</answer>`` (re.DOTALL; whole stripped text when
  absent), then their ``extract_choice`` heuristic (upper-case, collapse whitespace, letters followed by
  punctuation or the end, keyword/position scoring when several); the solution goes through the same path.
  geor1's default accuracy rule differs on purpose (LAST answer block, standalone letter tokens, two different
  letters = wrong, the rule evaluation shares through ``geor1.judge``); ``vlmr1_accuracy`` reproduces the
  reference and is what the mismatch check uses.
- format: ``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", content, re.DOTALL)``.
- length: their cosine with ``cosine_max_len=1024`` and the correctness forced to 1.0 (so every completion
  gets the "correct" curve), length = ``len(tokenizer.encode(content))``. The benchmark gives both sides the
  same whitespace tokenizer (no model tokenizer can be downloaded here), so the figures compare the reward
  code, not a tokenizer.
- repetition: first the JSON path: the body of the first ```` ```json ```` fence (``re.search``, lazy, DOTALL),
  else of the first ```` ``` ```` fence, else the first ``[{ … "bbox_2d" … "label" … }]`` span; if it parses
  (``json.loads``) to a non-empty list, ``(1 - unique/total) * -1`` over its ``f"{bbox_2d}_{label}"`` items
  (0 when none). Otherwise 6-grams over lower-cased whitespace words, ``(1 - unique/total) * -1``, 0 below 6
  words. Theirs retries malformed JSON with ``json_repair.repair_json``; that package is not installed here, so
  this reference goes straight to its "repair failed" branch (plain text). Like theirs, it raises TypeError on
  list items it cannot index (numbers, ``null``, a string naming both keys), where geor1 scores plain text.

Every reward gets the completions in TRL's conversational shape (``[{"role": "assistant", "content": ...}]``)
in batches of ``--batch`` (a GRPO step's worth), as GRPOTrainer calls them.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import time
from collections.abc import Callable

# --------------------------------------------------------------------------------------------------------------
# Reference rewards, written the VLM-R1 way (kept here on purpose: this is the yardstick, not library code).
# --------------------------------------------------------------------------------------------------------------

_REF_KEYWORDS = [
    "答案",
    "选择",
    "正确",
    "是",
    "对",
    "answer",
    "correct",
    "choose",
    "select",
    "right",
    "认为",
    "应该",
    "觉得",
    "think",
    "believe",
    "should",
]


def ref_extract_choice(text):
    text = text.upper()
    text = re.sub(r"\s+", " ", text)
    choices = re.findall(r"(?<![A-Z])([A-Z])(?=[\.\,\?\!\:\;]|$)", text)
    if not choices:
        return None
    if len(choices) == 1:
        return choices[0]
    choice_scores = {choice: 0 for choice in choices}
    for choice in choices:
        pos = text.find(choice)
        context = text[max(0, pos - 20) : min(len(text), pos + 20)]
        for keyword in _REF_KEYWORDS:
            if keyword.upper() in context:
                choice_scores[choice] += 1
        if pos > len(text) * 0.7:
            choice_scores[choice] += 2
        if pos < len(text) - 1 and text[pos + 1] in "。.!！,，":
            choice_scores[choice] += 1
    return max(choice_scores.items(), key=lambda x: x[1])[0]


def ref_mcq_reward(content, sol):
    sol_match = re.search(r"<answer>(.*?)</answer>", sol)
    ground_truth = sol_match.group(1).strip() if sol_match else sol.strip()
    has_choices = ref_extract_choice(ground_truth)
    correct_choice = has_choices.upper() if has_choices else sol.strip()
    content_match = re.search(r"<answer>(.*?)</answer>", content, re.DOTALL)
    student_answer = content_match.group(1).strip() if content_match else content.strip()
    student_choice = ref_extract_choice(student_answer)
    if student_choice:
        reward = 1.0 if student_choice == correct_choice else 0.0
    else:
        reward = 0.0
    return reward


def ref_accuracy_reward(completions, solution, **kwargs):
    contents = [completion[0]["content"] for completion in completions]
    return [ref_mcq_reward(content, sol) for content, sol in zip(contents, solution, strict=False)]


def ref_format_reward(completions, **kwargs):
    pattern = r"<think>.*?</think>\s*<answer>.*?</answer>"
    contents = [completion[0]["content"] for completion in completions]
    matches = [re.fullmatch(pattern, content, re.DOTALL) for content in contents]
    return [1.0 if match else 0.0 for match in matches]


def ref_cosine_reward(content, tokenizer, acc_reward):
    min_len_value_wrong = 0.0
    max_len_value_wrong = -0.5
    min_len_value_correct = 1.0
    max_len_value_correct = 0.5
    cosine_max_len = 1024
    gen_len = len(tokenizer.encode(content))
    acc_reward = 1.0  # the reference overrides correctness: every completion gets the "correct" curve
    is_correct = acc_reward >= 0.7
    if is_correct:
        min_value = max_len_value_correct
        max_value = min_len_value_correct
    else:
        min_value = min_len_value_wrong
        max_value = max_len_value_wrong
    return max_value - (max_value - min_value) * (1 - math.cos(gen_len * math.pi / cosine_max_len)) / 2


def make_ref_cosine_rewards(tokenizer):
    def ref_cosine_rewards(completions, solution, **kwargs):
        contents = [completion[0]["content"] for completion in completions]
        return [
            ref_cosine_reward(content, tokenizer, 1.0) for content, _ in zip(contents, solution, strict=False)
        ]

    return ref_cosine_rewards


def ref_repetition_reward(content):
    max_penalty = -1.0
    if content == "":
        return 0.0
    match = re.search(r"```json(.*?)```", content, re.DOTALL)
    if match:
        bbox_json = match.group(1).strip()
    else:
        match = re.search(r"```(.*?)```", content, re.DOTALL)
        bbox_json = match.group(1).strip() if match else None
        if not bbox_json:
            match = re.search(r'\[\s*\{.*?"bbox_2d".*?"label".*?\}\s*\]', content, re.DOTALL)
            bbox_json = match.group(0) if match else None
    if bbox_json:
        try:
            data = json.loads(bbox_json)
        except json.JSONDecodeError:
            data = None  # theirs tries json_repair.repair_json first (not installed here)
        if data and isinstance(data, list):
            try:
                items = []
                for item in data:
                    if "bbox_2d" in item and "label" in item:
                        items.append(f"{item['bbox_2d']}_{item['label']}")
                unique = set()
                total = 0
                for ng in zip(*[items[i:] for i in range(1)], strict=False):
                    unique.add(ng)
                    total += 1
                if total == 0:
                    return 0.0
                return (1 - len(unique) / total) * max_penalty
            except KeyError:
                pass
    ngram_size = 6
    if len(content.split()) < ngram_size:
        return 0.0

    def zipngram(text, ngram_size):
        words = text.lower().split()
        return zip(*[words[i:] for i in range(ngram_size)], strict=False)

    ngrams = set()
    total = 0
    for ng in zipngram(content, ngram_size):
        ngrams.add(ng)
        total += 1
    if total == 0:
        return 0.0
    scaling = 1 - len(ngrams) / total
    return scaling * max_penalty


def ref_repetition_rewards(completions, solution, **kwargs):
    contents = [completion[0]["content"] for completion in completions]
    return [ref_repetition_reward(content) for content, _ in zip(contents, solution, strict=False)]


class WhitespaceTokenizer:
    """Stand-in for a model tokenizer: ``encode`` returns the whitespace tokens (same for both sides)."""

    def encode(self, text: str) -> list[str]:
        return text.split()


# --------------------------------------------------------------------------------------------------------------
# Varied completions (deterministic)
# --------------------------------------------------------------------------------------------------------------

_SYLLABLES = ["ka", "lo", "mi", "ter", "ra", "sa", "nu", "vel", "ion", "dor", "an", "est", "pel", "qu", "zo"]
_CUES = [
    "the coastline bends to the north",
    "a river delta appears in the satellite view",
    "the terrain shows folded mountains",
    "dense vegetation suggests a tropical climate",
    "candidate B shows the same field pattern",
    "the road network is a regular grid",
    "there is snow on the ridges",
    "a desert basin fills the southern half",
]


def _words(rng: random.Random, vocab: list[str], n: int) -> str:
    return " ".join(rng.choices(vocab, k=n))


def _answer_variant(rng: random.Random, letter: str) -> str:
    forms = [
        "{L}",
        "({L})",
        "{L}.",
        "Answer: {L}",
        "The answer is {l}",
        "**{L}**",
        "{L}) candidate {L}",
        "Option {L}",
        "{L}, {M}",
        "A satellite view like {L}.",
        "none of them",
    ]
    other = rng.choice([c for c in "ABCD" if c != letter])
    return rng.choice(forms).format(L=letter, l=letter.lower(), M=other)


def _json_boxes(rng: random.Random, vocab: list[str]) -> str:
    """A list of ``bbox_2d``/``label`` objects (some repeated), fenced as json, fenced bare, or unfenced."""
    boxes = [
        {"bbox_2d": [rng.randrange(100) for _ in range(4)], "label": rng.choice(vocab)}
        for _ in range(rng.randint(1, 6))
    ]
    boxes += rng.choices(boxes, k=rng.randint(0, 6))
    body = json.dumps(boxes, indent=rng.choice([None, 2]))
    return rng.choice(["```json\n{}\n```", "```\n{}\n```", "boxes: {}", "```json\n{}"]).format(body)


def make_completions(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Return ``n`` completion texts and their solution letters (a deterministic mix of shapes)."""
    rng = random.Random(seed)
    vocab = ["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(3000)]
    texts, solutions = [], []
    for _ in range(n):
        sol = rng.choice("ABCD")
        letter = sol if rng.random() < 0.5 else rng.choice("ABCD")
        kind = rng.random()
        think = _words(rng, vocab, rng.randint(5, 300)) + ". " + rng.choice(_CUES)
        ans = _answer_variant(rng, letter)
        if kind < 0.45:  # well formed
            text = f"<think>{think}</think>{rng.choice(['', ' ', chr(10)])}<answer>{ans}</answer>"
        elif kind < 0.55:  # broken or shuffled tags
            text = rng.choice(
                [
                    f"<think>{think}<answer>{ans}</answer>",
                    f"<think>{think}</think><answer>{ans}",
                    f"<answer>{ans}</answer><think>{think}</think>",
                    f"<think><think>{think}</think></think><answer>{ans}</answer>",
                    f"<think>{think}</think><answer>{ans}</answer><answer>{letter}</answer>",
                    f" <think>{think}</think> <answer>{ans}</answer> ",
                ]
            )
        elif kind < 0.65:  # long repetitive text
            phrase = _words(rng, vocab, rng.randint(3, 12))
            body = " ".join([phrase] * rng.randint(20, 200))
            text = f"<think>{body}</think><answer>{ans}</answer>" if rng.random() < 0.5 else body
        elif kind < 0.75:  # long free reasoning
            text = f"<think>{_words(rng, vocab, rng.randint(400, 1500))}</think><answer>{ans}</answer>"
        elif kind < 0.85:  # no tags at all
            text = think + " So the answer is " + ans
        elif kind < 0.9:  # empty / whitespace
            text = rng.choice(["", " ", "\n\n"])
        elif kind < 0.95:  # JSON boxes (fenced or bare), which the reference repetition scores on their own
            text = f"<think>{think}</think><answer>{_json_boxes(rng, vocab)}</answer>"
        else:  # answer only
            text = f"<answer>{ans}</answer>"
        texts.append(text)
        solutions.append(sol)
    return texts, solutions


# --------------------------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------------------------


def _run_system(funcs: dict[str, Callable], completions: list, solutions: list[str], batch: int):
    """Call the rewards as GRPOTrainer does (per batch: each reward in turn); return seconds and values per reward."""
    seconds = dict.fromkeys(funcs, 0.0)
    values: dict[str, list] = {name: [] for name in funcs}
    # CPU time of this process: the machine may be shared, and waiting for a core is not the rewards' cost.
    clock = time.process_time
    for i in range(0, len(completions), batch):
        chunk, sols = completions[i : i + batch], solutions[i : i + batch]
        for name, func in funcs.items():
            start = clock()
            out = func(chunk, solution=sols)
            seconds[name] += clock() - start
            values[name].extend(out)
    return seconds, values


def main() -> None:
    from tqdm import tqdm

    from geor1.rewards import VLMR1_REWARDS, build_reward_funcs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of completions")
    parser.add_argument("--batch", type=int, default=64, help="completions per reward call (one GRPO step)")
    parser.add_argument("--repeat", type=int, default=3, help="timing passes; the fastest is reported")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    texts, solutions = make_completions(args.n, args.seed)
    completions = [[{"role": "assistant", "content": t}] for t in texts]
    names = ["accuracy", "format", "length", "repetition"]
    tokenizer = WhitespaceTokenizer()
    systems = {
        "reference": {
            "accuracy": ref_accuracy_reward,
            "format": ref_format_reward,
            "length": make_ref_cosine_rewards(tokenizer),
            "repetition": ref_repetition_rewards,
        },
        # Ours measures whitespace words natively (unit="words"): the same measure as the stand-in tokenizer the
        # reference gets, so the length values must agree too.
        "ours vlmr1": dict(zip(names, build_reward_funcs(VLMR1_REWARDS, unit="words"), strict=True)),
        "ours default": dict(zip(names, build_reward_funcs(names, unit="words"), strict=True)),
    }
    best: dict[str, dict[str, float]] = {system: dict.fromkeys(names, math.inf) for system in systems}
    values: dict[str, dict[str, list]] = {}
    with tqdm(total=args.repeat * len(systems), desc="timing passes", leave=False) as progress:
        for _ in range(args.repeat):
            for system, funcs in systems.items():
                seconds, values[system] = _run_system(funcs, completions, solutions, args.batch)
                for name in names:
                    best[system][name] = min(best[system][name], seconds[name])
                progress.update()

    n_chars = sum(len(t) for t in texts)
    print(
        f"{args.n} completions ({n_chars / 1e6:.1f} M chars), batches of {args.batch}, seed {args.seed}, "
        f"best of {args.repeat} passes, CPU seconds"
    )
    print(
        f"{'reward':<12}{'reference s':>12}{'ours vlmr1 s':>14}{'speedup':>9}{'ours default s':>16}{'speedup':>9}"
        f"{'vlmr1 != ref':>14}"
    )
    for name in [*names, "total"]:
        if name == "total":
            ref, pap, dft = (sum(best[s].values()) for s in systems)
            mismatch = ""
        else:
            ref, pap, dft = (best[s][name] for s in systems)
            pairs = zip(values["reference"][name], values["ours vlmr1"][name], strict=False)
            mismatch = str(sum(1 for a, b in pairs if a != b))
        print(
            f"{name:<12}{ref:>12.3f}{pap:>14.3f}{ref / pap:>8.1f}x{dft:>16.3f}{ref / dft:>8.1f}x{mismatch:>14}"
        )
    differ = sum(
        1
        for a, b in zip(values["ours default"]["accuracy"], values["ours vlmr1"]["accuracy"], strict=True)
        if a != b
    )
    print(
        f"accuracy: default and vlmr1 rules differ on {differ} completions (intended: last answer block, "
        "standalone letters, two different letters = wrong)"
    )
    wrong_curve = sum(
        1
        for v, a in zip(values["ours default"]["length"], values["ours default"]["accuracy"], strict=False)
        if a == 0.0 and v is not None and v <= 0.0
    )
    print(
        f"default length: {wrong_curve} wrong answers on the wrong-answer curve (vlmr1_length: 0 by construction)"
    )


if __name__ == "__main__":
    main()
