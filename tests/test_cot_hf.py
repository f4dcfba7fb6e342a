"""Local HF teacher with a tiny randomly initialised VLM: it writes garbage, which the filter rejects
without crashing; prompts carry the images and the hint; a failing batch becomes teacher errors."""

from __future__ import annotations

import pytest

from geor1.cot.filter import CotFilter
from geor1.cot.runner import CotRunConfig, CotRunner, log_path_for
from geor1.cot.teachers.base import TeacherJob
from geor1.cot.teachers.local_hf import HfTeacher, HfTeacherConfig, teacher_messages
from geor1.io import read_jsonl
from geor1.records import read_task_file


@pytest.fixture(scope="module")
def hf_teacher(tiny_model_dir, pairing_jsonl):
    teacher = HfTeacher(
        HfTeacherConfig(
            model=str(tiny_model_dir), batch_size=2, max_new_tokens=8, temperature=0.0, system_prompt=None
        ),
    )
    yield teacher
    teacher.close()


def test_tiny_model_garbage_is_rejected_not_fatal(hf_teacher, pairing_jsonl, tmp_path) -> None:
    out = tmp_path / "cot.jsonl"
    config = CotRunConfig(samples_per_example=1, limit=3, progress=False)
    summary = CotRunner(hf_teacher, CotFilter(), config).run(pairing_jsonl, out)
    assert summary.processed == 3 and summary.teacher_errors == 0
    assert summary.samples_judged == 3 == summary.records_written + sum(summary.rejections.values())
    assert set(summary.rejections) <= {"malformed", "wrong_answer", "too_short"}
    samples = [e for e in read_jsonl(log_path_for(out)) if e["event"] == "sample"]
    assert all(e["prompt_tokens"] > 50 and 0 < e["completion_tokens"] <= 8 for e in samples)


def test_failing_batches_and_missing_images_do_not_raise(hf_teacher, pairing_jsonl) -> None:
    example = read_task_file(pairing_jsonl)[0].to_dict()  # as the runner gives it: absolute image paths
    none = str(pairing_jsonl.parent / "images" / "none.png")
    missing = {**example, "id": "missing", "images": [none, *example["images"][1:]]}
    too_few = {**example, "id": "too-few", "images": example["images"][:2]}  # 5 image slots, 2 images
    results = {
        r.job.example_id: r
        for r in hf_teacher.generate([TeacherJob(missing, 0, 0), TeacherJob(too_few, 0, 1)])
    }
    assert results["missing"].abstain and "none.png" in results["missing"].abstain
    assert results["too-few"].error and results["too-few"].text is None


def test_teacher_messages_append_the_hint_to_the_user_turn(pairing_jsonl) -> None:
    example = read_jsonl(pairing_jsonl)[0]
    messages = teacher_messages(example, "be an expert")
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert sum(b["type"] == "image" for b in user) == len(example["images"])
    assert f"The correct final answer is {example['solution']}." in user[-1]["text"]
    assert example["prompt"][0]["content"][-1] in user  # the original question is kept
