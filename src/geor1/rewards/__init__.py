"""Verifiable rewards for GRPO: accuracy (option letter), format, cosine length, repetition, geodesic.

Every reward is a TRL reward callable ``reward(completions, **columns) -> list[float | None]``: completions are
strings or conversational message lists, the answer key comes from the dataset column ``solution`` (a letter,
or ``"(lat, lon)"`` for geolocation), and each value is bounded. They are pure and total: any completion string
gives a value (never an exception), in time linear in its length. ``None`` marks a reward that does not apply to
an example (TRL drops it from the weighted sum).

=============  ===================================================  =========================
name           value                                                range (defaults)
=============  ===================================================  =========================
accuracy       answer names the solution letter                     {0, 1} (``wrong_value``)
format         ``<think>…</think><answer>…</answer>``               {0, 1}
length         cosine of the length, by correctness                 [−0.5, 1]
repetition     share of repeated word 6-grams × −1                  [−1, 0]
geodesic       ``exp(−d / 1492.7 km)`` or distance thresholds       [0, 1]
=============  ===================================================  =========================

``paper_compatible=True`` reproduces the reference (VLM-R1 ``grpo_jsonl.py``, as used by Geo-R1), quirks
included; see each class. ``build_reward_funcs(names, **options)`` builds them by name for ``GRPOTrainer`` and
``reward_weights_for`` aligns ``GRPOConfig.reward_weights``.
"""

from geor1.rewards.accuracy import AccuracyMCQ, answer_correct, mcq_correct
from geor1.rewards.base import Reward, completion_text, completion_texts
from geor1.rewards.format import ThinkAnswerFormat, think_answer_format
from geor1.rewards.geodesic import DEFAULT_THRESHOLDS, GEOSCORE_SCALE_KM, GeodesicReward
from geor1.rewards.length import CosineLength, cosine_schedule
from geor1.rewards.registry import (
    GEO_R1_REWARDS,
    REWARD_FUNCS,
    build_reward_funcs,
    compute_score,
    reward_weights_for,
)
from geor1.rewards.repetition import RepetitionPenalty

# Ready-made instances with the default options (each is a TRL reward function).
accuracy_mcq = AccuracyMCQ()
format_reward = ThinkAnswerFormat()
length_reward = CosineLength()
repetition_reward = RepetitionPenalty()
geodesic_reward = GeodesicReward()

__all__ = [
    "DEFAULT_THRESHOLDS",
    "GEOSCORE_SCALE_KM",
    "GEO_R1_REWARDS",
    "REWARD_FUNCS",
    "AccuracyMCQ",
    "CosineLength",
    "GeodesicReward",
    "RepetitionPenalty",
    "Reward",
    "ThinkAnswerFormat",
    "accuracy_mcq",
    "answer_correct",
    "build_reward_funcs",
    "completion_text",
    "completion_texts",
    "compute_score",
    "cosine_schedule",
    "format_reward",
    "geodesic_reward",
    "length_reward",
    "mcq_correct",
    "repetition_reward",
    "reward_weights_for",
    "think_answer_format",
]
