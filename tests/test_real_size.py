"""benchmarks/real_size.py, smaller: the published 3B widths and whole vision tower with one text layer,
a 2-image pairing prompt at the smallest pixel budget, one SFT (full, LoRA) and one GRPO step."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_real_size_benchmark_small_variant(tmp_path):
    out = tmp_path / "figures.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "real_size.py"), "--layers", "1", "--images", "2"]
    command += ["--min-pixels", "3136", "--max-pixels", "3136", "--query-size", "112x56"]
    command += ["--candidate-size", "56x56", "--think-words", "8", "--completion-tokens", "4"]
    # one thread: on a shared 2-core runner two OpenMP threads of every small operation wait for each
    # other behind the other jobs (3 to 5 times the wall time of one thread, measured under load)
    command += ["--threads", "1", "--workdir", str(tmp_path / "work"), "--json", str(out)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["layers"] == 1 and report["init"]["seconds"] > 0
    stages = report["stages"]
    assert set(stages) == {"sft-full", "sft-lora", "grpo"}
    for name, result in stages.items():
        assert result["image_mismatches"] == [], name
        assert result["images_per_prompt"] == 2, name
        assert result["dtype"] == "bfloat16", name
        assert result["step_seconds"] > 0 and result["peak_memory_bytes"] > 0, name
        # 3136 px per image: at most 4 merged tokens each (56x56 -> 4x4 patches -> 2x2)
        assert 2 <= result["visual_tokens_per_prompt"] <= 8, name
    assert [stages[s]["image_calls"] for s in ("sft-full", "sft-lora", "grpo")] == [1, 1, 3]
    full, lora = stages["sft-full"], stages["sft-lora"]
    # the 3B widths and the whole vision tower: 1.057B parameters with one text layer
    assert full["total_parameters"] == full["trainable_parameters"] == 1_056_928_256
    assert (
        lora["trainable_vision_parameters"]
        == 0
        < lora["trainable_parameters"]
        < 0.01 * lora["total_parameters"]
    )
    assert stages["grpo"]["prompts"] == 2 and stages["grpo"]["completion_tokens"] <= 8
    assert "visual tokens/prompt" in proc.stdout and "image tokens == features" in proc.stdout
