"""Rewards against their written specification: the strict format reward against a plain regular
expression on generated tag soup, content extraction, the cosine and geodesic edges, tokenizer lengths, and
the messages of the reward configuration errors."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geor1.errors import ConfigError
from geor1.rewards import GeodesicReward, ThinkAnswerFormat
from geor1.rewards.base import completion_texts, content_text
from geor1.rewards.format import think_answer_format
from geor1.rewards.length import cosine_schedule, token_lengths
from geor1.rewards.registry import compute_score, reward_weights_for

TAGS = ("<think>", "</think>", "<answer>", "</answer>")
# the docstring's rule, written as one regex: whitespace, <think>, anything without a tag, </think>,
# whitespace, <answer>, anything without a tag, </answer>, whitespace
_NO_TAG = r"(?:(?!<think>|</think>|<answer>|</answer>).)*"
SPEC = re.compile(rf"\s*<think>{_NO_TAG}</think>\s*<answer>{_NO_TAG}</answer>\s*", re.DOTALL)

PIECES = [*TAGS, "<", ">", "/", "a", "B", " ", "\n", "\u00a0", "<answer", "</answe", "think>", "<b>", "</b>"]
tag_soup = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)
well_formed = st.tuples(
    st.sampled_from(["", " ", "\n\t"]),
    st.lists(st.sampled_from(["a", "<", ">", " ", "x<y", "</b>", "<answer", "think>"]), max_size=4).map(
        "".join
    ),
    st.sampled_from(["", " ", "\n", "x"]),
    st.lists(st.sampled_from(["B", "<", " ", "</answe", "<b>"]), max_size=4).map("".join),
    st.sampled_from(["", " ", "\n", "."]),
).map(lambda p: f"{p[0]}<think>{p[1]}</think>{p[2]}<answer>{p[3]}</answer>{p[4]}")


@settings(max_examples=600, deadline=None)
@given(st.one_of(tag_soup, well_formed))
def test_strict_format_is_the_documented_rule(text):
    assert think_answer_format(text) == bool(SPEC.fullmatch(text)), text


@pytest.mark.parametrize(
    "text,ok",
    [
        ("<think>a</think><answer>b</answer>", True),
        (" \n<think>a</think>\n<answer>b</answer>\n ", True),
        ("<think></think><answer></answer>", True),
        ("<think>a < b</think><answer>x<y</answer>", True),
        ("<think>a</think><answer>b</answez>", False),
        ("<think>a</think><answer>b</answer>x", False),
        ("x<think>a</think><answer>b</answer>", False),
        ("<think>a</think>x<answer>b</answer>", False),
        ("<think>a</think><answer>b</answer><answer>c</answer>", False),
        ("<think><think>a</think><answer>b</answer>", False),
        ("<answer>b</answer><think>a</think>", False),
        ("<think>a<answer>b</think></answer>", False),
        ("<think>a</think><answer></answer", False),
        ("<THINK>a</THINK><ANSWER>b</ANSWER>", False),
        ("", False),
    ],
)
def test_strict_format_cases(text, ok):
    assert think_answer_format(text) is ok
    assert ThinkAnswerFormat()([text]) == [1.0 if ok else 0.0]


def test_content_text_reads_only_text_parts():
    content = [
        "a",
        {"type": "text", "text": "b"},
        {"text": "c"},
        {"type": "image", "text": "no"},
        {"type": "text"},
        5,
    ]
    assert content_text(content) == "abc"
    assert content_text("plain") == "plain" and content_text(None) == "" and content_text(("x", "y")) == "xy"
    conversation = [{"role": "assistant", "content": [{"type": "text", "text": "<answer>A</answer>"}]}]
    assert completion_texts([conversation, "raw"]) == ["<answer>A</answer>", "raw"]


def test_reward_repr_names_its_settings():
    assert repr(GeodesicReward(mode="thresholds", scale_km=10.0)).startswith(
        "GeodesicReward(mode='thresholds', scale_km=10.0, "
    )
    assert repr(ThinkAnswerFormat()) == "ThinkAnswerFormat()"


def test_cosine_schedule_ends():
    assert cosine_schedule(0, 100, 1.0, 0.5) == 1.0 and cosine_schedule(-3, 100, 1.0, 0.5) == 1.0
    assert cosine_schedule(100, 100, 1.0, 0.5) == 0.5 and cosine_schedule(500, 100, 1.0, 0.5) == 0.5
    assert cosine_schedule(50, 100, 0.0, -0.5) == pytest.approx(-0.25)
    assert cosine_schedule(1, 2, 1.0, 0.0) == pytest.approx(0.5)


class BatchTokenizer:
    """A 🤗-like tokenizer: one call for the whole batch; ``encode`` must not be needed."""

    def __init__(self):
        self.calls = []

    def convert_tokens_to_ids(self, tokens):  # pragma: no cover - only its presence matters
        return tokens

    def __call__(self, texts):
        self.calls.append(texts)
        return {"input_ids": [list(range(len(t.split()) + 1)) for t in texts]}

    def encode(self, text):  # pragma: no cover - must not be called
        raise AssertionError("a batched tokenizer is called once, not per text")


def test_token_lengths_batch_a_hf_tokenizer():
    tokenizer = BatchTokenizer()
    assert token_lengths(tokenizer, ["a b", "c"]) == [3, 2] and tokenizer.calls == [["a b", "c"]]

    class Processor:  # a processor wraps its tokenizer
        pass

    processor = Processor()
    processor.tokenizer = tokenizer
    assert token_lengths(processor, ("x y z",)) == [4]

    class Plain:
        def encode(self, text):
            return text.split()

    assert token_lengths(Plain(), ["a b c", ""]) == [3, 0]


def test_geodesic_threshold_bounds_are_inclusive():
    reward = GeodesicReward(mode="thresholds")
    assert [reward.score_km(d) for d in (25.0, 25.001, 200.0, 750.0, 2500.0, 2500.1)] == [
        1.0, 0.75, 0.75, 0.5, 0.25, 0.0,
    ]  # fmt: skip
    with pytest.raises(ConfigError) as err:
        reward(["<answer>(1, 2)</answer>"])
    assert str(err.value) == (
        "config key 'solution': reward 'geodesic' needs a dataset column 'solution' (one value per example)"
    )


@pytest.mark.parametrize(
    "weights,message",
    [
        ({"format": "1"}, "config key 'reward_weights.format': must be a finite number, got '1'"),
        ({"acc": 1.0}, "config key 'reward_weights.acc': no reward 'acc' in reward_funcs (accuracy, format)"),
        (5, "config key 'reward_weights': must be a mapping name -> weight or a list, got 5"),
        ("1,2", "config key 'reward_weights': must be a mapping name -> weight or a list, got '1,2'"),
        ([1.0], "config key 'reward_weights': has 1 weights for 2 rewards (accuracy, format)"),
    ],
)
def test_reward_weight_errors(weights, message):
    with pytest.raises(ConfigError) as err:
        reward_weights_for(["accuracy", "format"], weights)
    assert str(err.value) == message


def test_compute_score_uses_the_options_and_skips_what_does_not_apply():
    text = "<think>a</think><answer>B</answer>"
    default = compute_score(text, "B")
    short = compute_score(text, "B", length={"max_len": 4})
    assert default["geodesic"] is None and short["length"] < default["length"]
    assert short["overall"] == pytest.approx(
        sum(v for k, v in short.items() if k != "overall" and v is not None)
    )
    weighted = compute_score(text, "B", names=["accuracy", "format"], weights=[2.0, 0.5])
    assert weighted == {"overall": 2.5, "accuracy": 1.0, "format": 1.0}
    assert math.isclose(
        compute_score(text, "B", names=["length"], length={"max_len": 4})["overall"], short["length"]
    )
