"""Verifiable rewards for GRPO: accuracy (option letter), format, cosine length, repetition, geodesic,
graded pairing.

Every reward is a TRL reward callable ``reward(completions, **columns) -> list[float | None]``: completions are
strings or conversational message lists, the answer key comes from the dataset column ``solution`` (a letter,
or ``"(lat, lon)"`` for geolocation), and each value is bounded. They are pure and total: any completion string
gives a value (never an exception). ``None`` marks a reward that does not apply to an example (TRL drops it
from the weighted sum). Whether an answer is right is decided by :func:`geor1.judge.judge`, the same function
evaluation and the CoT filter use.

================  ==================================================  =========================
name              value                                               range (defaults)
================  ==================================================  =========================
accuracy          answer names the solution letter                    {0, 1} (``wrong_value``)
format            ``<think>…</think><answer>…</answer>``              {0, 1}
length            cosine of the length, by correctness                [−0.5, 1]
repetition        share of repeated word 6-grams × −1                 [−1, 0]
geodesic          ``exp(−d / 1492.7 km)`` or distance thresholds      [0, 1]
pairing_gps       ``exp(−d / 1492.7 km)``, d from query to the choice  [0, 1]
vlmr1_accuracy    the reference's MCQ rule (first block, heuristics)  {0, 1}
vlmr1_format      the reference's format regex                        {0, 1}
vlmr1_length      the reference's cosine (always the "correct" curve) [0.5, 1]
vlmr1_repetition  the reference's repetition (JSON boxes, else words) [−1, 0]
================  ==================================================  =========================

The ``vlmr1_*`` rewards reproduce the reference (VLM-R1 ``grpo_jsonl.py``, as used by Geo-R1), quirks included.
``build_reward_funcs(names, **options)`` builds rewards by name, or by import path ``package.module:function``,
for ``GRPOTrainer``, and ``reward_weights_for`` aligns ``GRPOConfig.reward_weights``.
"""

from geor1.rewards.accuracy import AccuracyMCQ
from geor1.rewards.base import Reward, completion_text, completion_texts
from geor1.rewards.format import ThinkAnswerFormat, think_answer_format
from geor1.rewards.geodesic import DEFAULT_THRESHOLDS, GeodesicReward
from geor1.rewards.length import CosineLength, cosine_schedule
from geor1.rewards.pairing_gps import PairingGPS
from geor1.rewards.registry import (
    GEO_R1_REWARDS,
    REWARD_FUNCS,
    VLMR1_REWARDS,
    build_reward_funcs,
    compute_score,
    load_reward,
    reward_weights_for,
)
from geor1.rewards.repetition import RepetitionPenalty
from geor1.rewards.vlmr1 import VLMR1Accuracy, VLMR1Format, VLMR1Length, VLMR1Repetition

__all__ = [
    "DEFAULT_THRESHOLDS",
    "GEO_R1_REWARDS",
    "REWARD_FUNCS",
    "VLMR1_REWARDS",
    "AccuracyMCQ",
    "CosineLength",
    "GeodesicReward",
    "PairingGPS",
    "RepetitionPenalty",
    "Reward",
    "ThinkAnswerFormat",
    "VLMR1Accuracy",
    "VLMR1Format",
    "VLMR1Length",
    "VLMR1Repetition",
    "build_reward_funcs",
    "completion_text",
    "completion_texts",
    "compute_score",
    "cosine_schedule",
    "load_reward",
    "reward_weights_for",
    "think_answer_format",
]
