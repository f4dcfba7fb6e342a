"""benchmarks/gpu_check.py on its CPU path: device detection, dtype choice, the plan it skips without
CUDA, the missing-package message, and (slow) the same stages on a tiny model on this CPU."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(_spec)
sys.modules["gpu_check"] = gpu_check  # its dataclasses resolve annotations through sys.modules
_spec.loader.exec_module(gpu_check)


def test_choose_dtype():
    cuda = gpu_check.DeviceInfo("cuda", "H200", 140 * 2**30, bf16=True)
    old = gpu_check.DeviceInfo("cuda", "V100", 32 * 2**30, bf16=False)
    cpu = gpu_check.DeviceInfo("cpu", "x86_64", 0, bf16=False, reason="no GPU")
    assert [gpu_check.choose_dtype(d) for d in (cuda, old, cpu)] == ["bfloat16", "float16", "float32"]


def test_detect_device_without_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    device = gpu_check.detect_device()
    assert device.kind == "cpu" and device.memory_bytes == 0
    assert "CPU-only build" in device.reason or "sees no CUDA device" in device.reason
    assert gpu_check.detect_device("cpu").reason == "--device cpu was asked for"
    with pytest.raises(SystemExit, match="error: --device cuda: "):
        gpu_check.detect_device("cuda")


def test_detect_device_with_cuda(monkeypatch):
    from types import SimpleNamespace

    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(
        torch.cuda, "get_device_properties", lambda i: SimpleNamespace(name="H200", total_memory=150e9)
    )
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    device = gpu_check.detect_device()
    assert (device.kind, device.name, device.bf16) == ("cuda", "H200", True)
    assert gpu_check.choose_dtype(device) == "bfloat16"
    assert gpu_check.detect_device("cpu").kind == "cpu"  # --device cpu wins over a present GPU
    lines = gpu_check.describe_plan(device)
    assert lines[0] == "run  3b (36 text layers) sft-full" and lines[-1] == "run  7b (28 text layers) grpo"


def test_without_cuda_it_skips_every_run_and_exits_0(monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main([]) == 0
    out = capsys.readouterr().out
    assert "device: cpu" in out and "no CUDA device: " in out
    skips = [line for line in out.splitlines() if line.startswith("skip ")]
    assert len(skips) == 6 and all("needs a CUDA GPU" in line for line in skips)
    assert "skip 3b (36 text layers) grpo-full" in out and "skip 7b (28 text layers) sft-lora" in out
    assert "nothing run: every stage needs CUDA" in out
    assert gpu_check.main(["--sizes", "7b"]) == 0
    skips = [line for line in capsys.readouterr().out.splitlines() if line.startswith("skip ")]
    assert skips == [
        f"skip 7b (28 text layers) {stage}: needs a CUDA GPU ({gpu_check.detect_device().reason})"
        for stage in ("sft-lora", "grpo")
    ]


def test_missing_packages_are_named_with_the_install_command(monkeypatch, capsys):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        gpu_check.importlib.util,
        "find_spec",
        lambda name: None if name in ("trl", "dill") else real_find_spec(name),
    )
    assert gpu_check.missing_packages() == [("trl", "trl==1.16.0"), ("dill", "dill")]
    assert gpu_check.main([]) == 2
    out = capsys.readouterr().out
    assert out.startswith("error: missing packages: trl, dill.")
    assert "pip install --no-index --find-links wheels trl==1.16.0 dill" in out


def test_wheels_lists_the_requirements(capsys):
    assert gpu_check.main(["--wheels"]) == 0
    lines = capsys.readouterr().out.split()
    assert lines[:2] == ["trl==1.16.0", "datasets==5.2.0"] and "pyyaml>=6" in lines


@pytest.mark.slow
def test_cpu_smoke_runs_the_gpu_stages_on_a_tiny_model(tmp_path):
    """The code path the GPU runs take (probe processes, figures, table), on a tiny model on this CPU."""
    out = tmp_path / "smoke.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--cpu-smoke"]
        + ["--steps", "1", "--completions", "2", "--completion-tokens", "4", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        # one torch thread per stage process: faster on a shared runner (see tests/test_real_size.py)
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| tiny (2 layers) | grpo |" in proc.stdout
    report = json.loads(out.read_text())
    assert report["dtype"] == "float32" and report["device"]["kind"] == "cpu"
    results = {r["stage"]: r for r in report["runs"][0]["results"]}
    assert set(results) == {"sft-full", "sft-lora", "grpo"}
    assert [results[s]["image_calls"] for s in ("sft-full", "sft-lora", "grpo")] == [1, 1, 3]
    assert all(r["image_mismatches"] == [] for r in results.values())
    assert results["sft-full"]["trainable_parameters"] == results["sft-full"]["total_parameters"]
