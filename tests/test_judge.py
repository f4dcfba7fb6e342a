"""One judge of "is this answer right": the rewards, the CoT filter and eval agree, and eval reports the
strict (reward) and lenient readings as two metrics. Also: rewards named by import path."""

from __future__ import annotations

import math
import pickle
import sys
import textwrap

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from geor1.cot.filter import CotFilter, FilterConfig
from geor1.errors import ConfigError
from geor1.eval.tasks.geolocation import GeolocationTask
from geor1.eval.tasks.pairing import PairingTask
from geor1.eval.tasks.retention import RetentionTask
from geor1.eval.types import EvalExample
from geor1.geo import haversine_km
from geor1.judge import (
    Verdict,
    judge,
    read_choice,
    read_point,
    solution_kind,
    solution_point,
    split_completion,
    think_answer_format,
)
from geor1.rewards import AccuracyMCQ, CosineLength, GeodesicReward, build_reward_funcs, compute_score
from geor1.train.config import load_config

PARIS = "(48.8566, 2.3522)"


def pairing_example(i: int, solution: str, k: int = 4) -> EvalExample:
    return EvalExample(f"p{i}", [], [f"{j}.png" for j in range(k + 1)], solution, {"k": k, "band": "easy"})


def geolocation_example(i: int, solution: str = PARIS) -> EvalExample:
    return EvalExample(f"g{i}", [], ["x.png"], solution, {})


# ------------------------------------------------------------------------------ the two disagreements


def test_a_bare_letter_is_wrong_for_the_reward_and_lenient_only_in_eval():
    # Before: eval scored "B" right while the accuracy reward scored it 0, and eval said they agree.
    assert judge("B", "B", require_tags=True) == Verdict("letter", None, False)
    assert judge("B", "B", require_tags=False) == Verdict("letter", "B", True, choice="B")
    assert AccuracyMCQ()(["B"], solution=["B"]) == [0.0]
    result = PairingTask().score([pairing_example(0, "B")], ["B"])
    assert result.metrics["accuracy"] == 1.0  # lenient, as eval read it before
    assert result.metrics["accuracy_strict"] == 0.0  # what the reward sees
    assert (result.metrics["n_parsed"], result.metrics["n_parsed_strict"]) == (1, 0)
    headline = {h["metric"]: h["values"] for h in result.headline}
    assert headline["accuracy"] == [1.0] and headline["accuracy_strict"] == [0.0]
    assert result.examples[0]["correct"] is True and result.examples[0]["correct_strict"] is False


def test_bare_coordinates_score_zero_for_the_reward_and_only_lenient_eval_reads_them():
    # Before: eval parsed "(48.85, 2.35)" without a block while the geodesic reward gave 0.0.
    completion = "(48.85, 2.35)"
    assert GeodesicReward()([completion], solution=[PARIS]) == [0.0]
    assert judge(completion, PARIS, require_tags=True).point is None
    lenient = judge(completion, PARIS, require_tags=False)
    assert lenient.point == (48.85, 2.35) and lenient.correct and lenient.km < 1.0
    result = GeolocationTask().score([geolocation_example(0)], [completion])
    assert result.metrics["n_parsed"] == 1 and result.metrics["geoscore"] > 4990
    assert result.metrics["strict"]["n_parsed"] == 0 and result.metrics["strict"]["geoscore"] == 0.0
    headline = {h["metric"]: h["values"] for h in result.headline}
    assert headline["geoscore_strict"] == [0.0] and headline["acc@25km_strict"] == [0.0]
    assert headline["acc@25km"] == [1.0]


def test_retention_reports_both_readings():
    examples = [
        EvalExample(f"r{i}", [], [], s, {"n_options": 4, "subject": None}) for i, s in enumerate("ABC")
    ]
    completions = ["<answer>A</answer>", "B", "<answer>D</answer>"]
    result = RetentionTask().score(examples, completions)
    assert result.metrics["accuracy"] == pytest.approx(2 / 3)
    assert result.metrics["accuracy_strict"] == pytest.approx(1 / 3)
    assert [h["metric"] for h in result.headline] == ["accuracy", "accuracy_strict"]


# ------------------------------------------------------------------------------ the judge itself


@pytest.mark.parametrize(
    ("solution", "kind"),
    [("B", "letter"), ("<answer> c </answer>", "letter"), (PARIS, "point"), ((10, 20), "point"),
     ("Coastal", "text"), ("", None), (None, None), ((200, 0), None), (3, None)],
)  # fmt: skip
def test_solution_kinds(solution, kind):
    assert solution_kind(solution) == kind
    if kind is None:
        assert judge("<answer>B</answer>", solution, require_tags=True).correct is None


def test_option_range_widens_to_the_solution_and_distance_is_a_parameter():
    assert judge("<answer>F</answer>", "F", require_tags=True, n_options=4).correct
    assert judge("<answer>F</answer>", "B", require_tags=True, n_options=4).choice is None
    near = "<answer>(48.90, 2.35)</answer>"  # about 5 km north of the solution
    assert judge(near, PARIS, require_tags=True, within_km=25.0).correct
    assert not judge(near, PARIS, require_tags=True, within_km=1.0).correct
    assert judge(near, (48.8566, 2.3522), require_tags=True).km == pytest.approx(
        haversine_km(48.90, 2.35, 48.8566, 2.3522)
    )
    assert judge("<answer> coastal  </answer>", "Coastal", require_tags=True).correct


def test_every_verdict_field_for_each_kind():
    near = "<answer>(48.90, 2.35)</answer>"
    verdict = judge(near, PARIS, require_tags=True)
    km = haversine_km(48.90, 2.35, 48.8566, 2.3522)
    assert verdict == Verdict("point", "(48.90, 2.35)", True, point=(48.90, 2.35), km=pytest.approx(km))
    assert judge(near, PARIS, require_tags=True, within_km=verdict.km).correct  # the bound is inclusive
    # an answer that is no point, or no answer at all, is wrong (not unjudged)
    assert judge("<answer>near Paris</answer>", PARIS, require_tags=True) == Verdict(
        "point", "near Paris", False
    )
    assert judge("(48.90, 2.35)", PARIS, require_tags=True) == Verdict("point", None, False)
    assert judge("<answer> coastal  </answer>", "Coastal", require_tags=True) == Verdict(
        "text", "coastal", True
    )
    assert judge("coastal", "Coastal", require_tags=True) == Verdict("text", None, False)
    # the options widen to the solution's letter and no further: G is not an option when F is the key
    assert judge("<answer>F or G</answer>", "F", require_tags=True, n_options=4) == Verdict(
        "letter", "F or G", True, choice="F"
    )


def test_readers_follow_the_same_rule():
    text = "<think>A or C?</think><answer>C</answer>"
    assert read_choice(text, 4, require_tags=True) == read_choice(text, 4, require_tags=False) == "C"
    assert read_choice("C", 4, require_tags=True) is None and read_choice("C", 4, require_tags=False) == "C"
    assert read_point("1, 2", require_tags=True) is None and read_point("1, 2", require_tags=False) == (1, 2)


def test_readers_and_solutions_at_their_edges():
    # the option count reaches the reader: F is not among 4 options
    assert read_choice("<answer>F</answer>", 4, require_tags=True) is None
    assert read_choice("<answer>F</answer>", 6, require_tags=True) == "F"
    # a pole and the antimeridian are coordinate solutions; past them, a bool or a string pair is not
    assert solution_point((90, 180)) == (90.0, 180.0) and solution_point((-90, -180)) == (-90.0, -180.0)
    assert judge("<answer>(90, 180)</answer>", (90, 180), require_tags=True).correct
    for bad in ((90.5, 0), (0, 180.5), (True, 2), (1, False), ("48", "2"), (math.nan, 0), (0, math.inf)):
        assert solution_point(bad) is None and solution_kind(bad) is None
        # nothing to judge against: no verdict, but the answer read is still reported
        assert judge("<answer>(1, 2)</answer>", bad, require_tags=True) == Verdict(None, "(1, 2)", None)


def test_split_completion_returns_the_two_stripped_blocks():
    assert split_completion("  <think> a  b </think>\n<answer> C </answer> ") == ("a  b", "C")
    assert split_completion("<think></think><answer></answer>") == ("", "")
    assert not think_answer_format(None) and not think_answer_format(3)
    for bad in (None, 3, "<answer>C</answer>", "<think>a</think><answer>B</answer><answer>C</answer>"):
        assert split_completion(bad) is None


_PIECES = ["<think>", "</think>", "<answer>", "</answer>", "A", "B", "b", "C", " ", "\n", ".", "(", ")",
           "answer is", "48.85", "2.35", ",", "N", "E", "x", "think"]  # fmt: skip
texts = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)
solutions = st.sampled_from(["A", "B", "C", "D", "(b)", "(48.85, 2.35)", "Coastal"])


@settings(max_examples=300, deadline=None)
@given(text=texts, solution=solutions)
def test_rewards_filter_and_eval_agree_with_the_judge(text, solution):
    strict = judge(text, solution, require_tags=True)
    lenient = judge(text, solution, require_tags=False)
    if strict.kind == "letter":
        assert AccuracyMCQ()([text], solution=[solution]) == [float(strict.correct)]
        result = PairingTask().score([pairing_example(0, solution.strip("()").upper(), k=8)], [text])
        assert result.metrics["accuracy_strict"] == float(strict.correct)
        assert result.metrics["accuracy"] == float(lenient.correct)
    if strict.kind in ("letter", "point"):
        value = CosineLength(max_len=100, unit="words")([text], solution=[solution])[0]
        assert (value > 0.25) is bool(strict.correct)  # the correct curve stays above 0.5, the wrong below 0
    if strict.kind == "point":
        geodesic = GeodesicReward()([text], solution=[solution])[0]
        assert geodesic == (0.0 if strict.km is None else pytest.approx(math.exp(-strict.km / 1492.7)))
    verdict = CotFilter(FilterConfig(min_think_words=0)).check(text, solution)
    if verdict.reason not in ("malformed", None):
        # a well-formed completion is rejected as wrong exactly when the strict judge (within 1 km) says so
        within = judge(text, solution, require_tags=True, within_km=1.0).correct
        assert (verdict.reason == "wrong_answer") is (not within)


# ------------------------------------------------------------------------------ rewards by import path


@pytest.fixture
def reward_module(tmp_path, monkeypatch):
    """A module outside geor1 with a reward function and a reward class, importable as ``my_rewards``."""
    (tmp_path / "my_rewards.py").write_text(
        textwrap.dedent(
            """
            def shout(completions, **kwargs):
                return [1.0 if "!" in str(c) else 0.0 for c in completions]

            class Longer:
                __name__ = "longer"

                def __init__(self, *, bonus=1.0):
                    self.bonus = bonus

                def __call__(self, completions, **kwargs):
                    return [self.bonus * len(str(c)) for c in completions]

            NOT_CALLABLE = 3
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_rewards"
    sys.modules.pop("my_rewards", None)


def test_a_reward_named_by_import_path(reward_module):
    shout, longer, accuracy = build_reward_funcs(
        [f"{reward_module}:shout", f"{reward_module}:Longer", "accuracy"],
        **{f"{reward_module}:Longer": {"bonus": 2.0}},
    )
    assert shout(["hi!", "hi"]) == [1.0, 0.0] and shout.__name__ == "shout"
    assert longer(["abc"]) == [6.0]
    assert accuracy(["<answer>B</answer>"], solution=["B"]) == [1.0]
    assert pickle.loads(pickle.dumps(shout))(["!"]) == [1.0]  # TRL's rollout worker pickles rewards
    score = compute_score("<answer>B</answer>!", "B", names=["accuracy", f"{reward_module}:shout"])
    assert score == {"overall": 2.0, "accuracy": 1.0, "shout": 1.0}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no_such_module_xyz:fn", "cannot import module 'no_such_module_xyz'"),
        ("my_rewards:missing", "has no attribute 'missing'"),
        ("my_rewards:NOT_CALLABLE", "not a reward function"),
        ("my_rewards:", "not an import path"),
        (":shout", "not an import path"),
        ("acuracy", "unknown reward 'acuracy'"),
    ],
)
def test_a_bad_reward_path_names_the_field(reward_module, name, message):
    with pytest.raises(ConfigError, match=message) as info:
        build_reward_funcs(["format", name])
    assert info.value.key == "reward_funcs[1]"
    with pytest.raises(ConfigError, match="not an option"):
        build_reward_funcs([f"{reward_module}:shout"], **{f"{reward_module}:shout": {"x": 1}})


def test_load_reward_follows_dotted_attributes_and_says_what_is_wrong():
    import os.path

    from geor1.rewards.registry import load_reward

    assert load_reward("os:path.join") is os.path.join  # "module:attribute.attribute"
    for path, message in [
        ("os:path:join", "'os:path:join' is not an import path of the form 'package.module:function'"),
        ("no_such_module_xyz:fn", "cannot import module 'no_such_module_xyz' for reward 'no_such_module_xyz:fn': "
         "ModuleNotFoundError: "),
        ("os:path.nope", "module 'os' has no attribute 'path.nope'"),
        ("os:sep", "'os:sep' is a str, not a reward function or class"),
    ]:  # fmt: skip
        with pytest.raises(ConfigError) as info:
            load_reward(path)
        assert info.value.key == "reward_funcs" and info.value.reason.startswith(message)


def test_config_checks_reward_paths_and_the_retired_option(tmp_path, reward_module):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"model_name_or_path": "m", "use_cpu": True, "bf16": False}))
    _, (script, _, _) = load_config("grpo", config, ["--reward_funcs", f"accuracy,{reward_module}:shout"])
    assert script.reward_funcs == ["accuracy", f"{reward_module}:shout"]
    with pytest.raises(ConfigError) as info:
        load_config("grpo", config, ["--reward_funcs", "accuracy,my_rewards:nope"])
    assert info.value.key == "reward_funcs[1]"
    with pytest.raises(ConfigError, match="vlmr1_accuracy") as info:
        build_reward_funcs(["accuracy"], paper_compatible=True)
    assert info.value.key == "reward_options.paper_compatible"


def test_cli_bad_reward_path_is_one_error_line(tmp_path, pairing_jsonl):
    from test_cli_errors import assert_one_error, invoke, sft_config

    config = sft_config(
        tmp_path,
        tmp_path / "no-model",
        pairing_jsonl,
        kind="grpo",
        reward_funcs=["accuracy", "nowhere_xyz:fn"],
    )
    code, output, _ = invoke("grpo", config)
    assert_one_error(code, output, "reward_funcs[1]", "nowhere_xyz")
    assert not (tmp_path / "run").exists()
