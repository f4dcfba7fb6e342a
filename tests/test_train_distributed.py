"""Scale-out runs in subprocesses, launched exactly as users launch them (``accelerate launch --config_file
configs/accelerate/<x>.yaml -m geor1.cli sft|grpo CONFIG``): 2 CPU processes under DDP (gloo), DeepSpeed
ZeRO-2 and ZeRO-3, a two-node job on loopback, and kill + resume. FSDP cannot run on CPU processes through
accelerate 1.15 (see ``test_fsdp_is_not_available_on_cpu``); its GPU config is checked by parsing.

Equivalence. Every run has the same seed and the same global batch (1 process x 8 or 2 x 4 examples).
- SFT is deterministic, so each backend's first 3 steps are compared with the single-process run: loss,
  grad norm, tokens seen, and the final weights.
- GRPO samples its completions, and TRL seeds process ``r`` with ``seed + r`` and samples each process's
  rows as one batch: one process draws different completions than two, so a single-process run is not
  comparable sample for sample. Every 2-process backend draws the same completions, so DDP, ZeRO-2
  (two nodes) and ZeRO-3 are compared step by step: reward, loss, KL (beta > 0, reference model under
  the same backend), grad norm, and the checkpoint weights.
Tolerance: the backends differ only in the order of floating-point sums (all-reduce vs reduce-scatter,
per-partition grad norms), which moves fp32 results by ~1e-7 relative (loss) to ~2e-5 (grad norm) in
these runs. A real fault (gradients not averaged over the processes, an update lost or applied twice,
another batch) moves the step-2/3 loss by more than 1e-2 relative (one SFT step lowers it by ~8 %).
So: RTOL = 1e-3 with ATOL = 1e-6 for values near zero (the GRPO loss and KL of step 1), and weights
within 1e-4 (training moves them by ~1e-2).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from launch import (
    ROOT,
    LaunchFailed,
    accelerate_command,
    finish,
    free_port,
    launch,
    start,
    subprocess_env,
    worker_error,
)

RTOL = 1e-3
ATOL = 1e-6
WEIGHT_ATOL = 1e-4
LAUNCH_TIMEOUT = 240

CPU_RUN = {
    "use_cpu": True,
    "bf16": False,
    "gradient_checkpointing": False,
    "logging_steps": 1,
    "report_to": "none",
    "seed": 0,
}


def tiny_grpo_config(path: Path, model_dir: Path, data: Path, out: Path, **extra) -> Path:
    config = {
        "model_name_or_path": str(model_dir),
        "train_file": [str(data)],
        "output_dir": str(out),
        "reward_funcs": ["accuracy", "format", "length", "repetition"],
        "reward_options": {"length": {"max_len": 8}},
        "per_device_train_batch_size": 4,
        "num_generations": 4,
        "max_completion_length": 8,
        "learning_rate": 1e-3,
        "beta": 0.0,
        "loss_type": "grpo",
        "save_strategy": "steps",
        **CPU_RUN,
    }
    config.update(extra)
    path.write_text(yaml.safe_dump(config))
    return path


# GRPO of the scale-out runs: beta > 0 (a reference model, prepared by TRL under the same backend), a
# constant learning rate (a resumed run sees the same rate), and the curriculum on with threshold 0 and
# window 1, so the band moves on at every logged step (easy -> medium -> hard) and a resumed run shows
# whether the band came back from the checkpoint.
SCALE_GRPO = {
    "beta": 0.04,
    "lr_scheduler_type": "constant",
    "max_steps": 3,
    "save_steps": 2,
    "curriculum": True,
    "curriculum_threshold": 0.0,
    "curriculum_window": 1,
}
GRPO_KEYS = ("reward", "loss", "kl", "grad_norm", "rewards/length/mean", "completions/mean_length")
SFT_KEYS = ("loss", "grad_norm", "num_tokens")


def train_records(out: Path) -> dict[int, dict]:
    """Return the per-step training records of a run's metrics.jsonl, by step."""
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r for r in records if "loss" in r and "train_runtime" not in r}


def assert_same_steps(name: str, got: dict[int, dict], want: dict[int, dict], keys, steps) -> None:
    for step in steps:
        for key in keys:
            assert got[step][key] == pytest.approx(want[step][key], rel=RTOL, abs=ATOL), (
                f"{name}: step {step} {key} = {got[step][key]!r}, reference {want[step][key]!r}"
            )


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def assert_same_weights(name: str, got: Path, want: Path) -> None:
    a, b = weights(got), weights(want)
    # ZeRO-2 saves also write the tied lm_head (a copy of the embedding; loaders tie it again)
    extra = set(a) - set(b)
    assert set(b) <= set(a) and extra <= {"lm_head.weight"}, f"{name}: tensor names {sorted(extra)}"
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in b)
    assert worst <= WEIGHT_ATOL, f"{name}: weights differ by up to {worst}"


def rank_files(out: Path, n: int = 2) -> list[dict]:
    return [json.loads((out / "ranks" / f"rank-{i}.json").read_text()) for i in range(n)]


def grpo_launch(tmp: Path, config_name: str, config: Path, name: str) -> str:
    command = [*accelerate_command(config_name), "-m", "geor1.cli", "grpo", str(config)]
    return launch(command, tmp / f"{name}.log", cwd=tmp, timeout=LAUNCH_TIMEOUT)


# ------------------------------------------------------------------------------------------ launched runs


@pytest.fixture(scope="module")
def ddp_grpo(tmp_path_factory, tiny_model_dir, pairing_jsonl) -> Path:
    tmp = tmp_path_factory.mktemp("ddp_grpo")
    out = tmp / "run"
    config = tiny_grpo_config(tmp / "c.yaml", tiny_model_dir, pairing_jsonl, out, **SCALE_GRPO)
    grpo_launch(tmp, "cpu_2proc", config, "ddp")
    return out


@pytest.fixture(scope="module")
def zero3_grpo(tmp_path_factory, tiny_model_dir, pairing_jsonl) -> dict:
    """ZeRO-3 GRPO for 3 steps (checkpoint at 2); then everything written after checkpoint-2 is removed,
    as if the run had been stopped there, and it is resumed from checkpoint-2 with the 16-bit gather
    switched off on the command line (geor1 must turn it back on, or no weights file is written)."""
    pytest.importorskip("deepspeed")
    tmp = tmp_path_factory.mktemp("zero3_grpo")
    out = tmp / "run"
    config = tiny_grpo_config(tmp / "c.yaml", tiny_model_dir, pairing_jsonl, out, **SCALE_GRPO)
    grpo_launch(tmp, "zero3_cpu", config, "zero3")
    first = {
        "records": train_records(out),
        "ranks": rank_files(out),
        "final": tmp / "first-final",
    }
    shutil.copytree(out, first["final"], ignore=shutil.ignore_patterns("checkpoint-*", "global_step*"))
    shutil.rmtree(out / "checkpoint-3", ignore_errors=True)
    shutil.rmtree(out / "ranks")
    (out / "model.safetensors").unlink()
    command = [
        *accelerate_command("zero3_cpu", "--zero3_save_16bit_model", "false"),
        *("-m", "geor1.cli", "grpo", str(config)),
        *("--resume_from_checkpoint", str(out / "checkpoint-2")),
    ]
    resumed_log = launch(command, tmp / "zero3-resume.log", cwd=tmp, timeout=LAUNCH_TIMEOUT)
    return {"out": out, "first": first, "resumed_log": resumed_log, "data": pairing_jsonl}


@pytest.fixture(scope="module")
def zero2_two_nodes_grpo(tmp_path_factory, tiny_model_dir, pairing_jsonl) -> Path:
    """Two ``accelerate launch`` processes, one per "machine", joined over 127.0.0.1 (ZeRO-2)."""
    pytest.importorskip("deepspeed")
    tmp = tmp_path_factory.mktemp("two_nodes")
    out = tmp / "run"
    config = tiny_grpo_config(tmp / "c.yaml", tiny_model_dir, pairing_jsonl, out, **SCALE_GRPO)
    port = free_port()
    jobs = []
    for rank in (0, 1):
        node = ("--num_machines", "2", "--num_processes", "2", "--machine_rank", str(rank))
        command = [
            *accelerate_command("zero2_cpu", *node, "--main_process_ip", "127.0.0.1", port=port),
            *("-m", "geor1.cli", "grpo", str(config)),
        ]
        jobs.append(start(command, tmp / f"node{rank}.log", cwd=tmp))
    finish(jobs, LAUNCH_TIMEOUT)
    return out


@pytest.fixture(scope="module")
def sft_runs(tmp_path_factory, tiny_model_dir, cot_jsonl) -> dict[str, Path]:
    """SFT for 3 steps: single process (8 examples a step) and 2 processes x 4 under DDP, ZeRO-2, ZeRO-3,
    and ZeRO-3 in bf16 (as the GPU configs train)."""
    pytest.importorskip("deepspeed")
    from typer.testing import CliRunner

    from geor1.cli import build_app

    tmp = tmp_path_factory.mktemp("sft")
    base = {
        "model_name_or_path": str(tiny_model_dir),
        "train_file": [str(cot_jsonl)],
        "max_length": None,
        "learning_rate": 3e-3,
        "lr_scheduler_type": "constant",
        "max_steps": 3,
        "save_strategy": "no",
        **CPU_RUN,
    }
    outs = {}
    single = tmp / "single.yaml"
    outs["single"] = tmp / "single"
    single.write_text(
        yaml.safe_dump({**base, "per_device_train_batch_size": 8, "output_dir": str(outs["single"])})
    )
    result = CliRunner().invoke(build_app(), ["sft", str(single)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    bf16 = {"bf16": True, "dtype": "bfloat16"}
    for name, config_name, launch_args, extra in (
        ("ddp", "cpu_2proc", (), {}),
        ("zero2", "zero2_cpu", (), {}),
        ("zero3", "zero3_cpu", (), {}),
        ("zero3_bf16", "zero3_cpu", ("--mixed_precision", "bf16"), bf16),
    ):
        outs[name] = tmp / name
        config = tmp / f"{name}.yaml"
        config.write_text(
            yaml.safe_dump({**base, **extra, "per_device_train_batch_size": 4, "output_dir": str(outs[name])})
        )
        command = [*accelerate_command(config_name, *launch_args), "-m", "geor1.cli", "sft", str(config)]
        launch(command, tmp / f"{name}.log", cwd=tmp, timeout=LAUNCH_TIMEOUT)
    return outs


# ---------------------------------------------------------------------------------------------------- tests


def test_worker_error_fails_the_launch_with_that_error_not_a_hang(tmp_path):
    """Rank 1 raises while rank 0 waits for it in a collective: the launch fails fast with rank 1's error."""
    script = tmp_path / "worker.py"
    script.write_text(
        textwrap.dedent(
            """
            import torch.distributed as dist
            from accelerate import PartialState

            state = PartialState(cpu=True)
            if state.process_index == 1:
                raise ValueError("boom from rank 1")
            dist.barrier()
            """
        )
    )
    started = time.monotonic()
    with pytest.raises(LaunchFailed) as failure:
        launch([*accelerate_command("cpu_2proc"), str(script)], tmp_path / "w.log", cwd=tmp_path, timeout=120)
    assert time.monotonic() - started < 110
    message = str(failure.value)
    assert 'raise ValueError("boom from rank 1")\nValueError: boom from rank 1' in message
    assert "ChildFailedError" not in message  # the worker's traceback, not the launcher's


def test_worker_error_prefers_geor1_error_lines():
    log = "Traceback (most recent call last):\n  x\nChildFailedError: ...\nerror: config key 'beta': bad\n"
    assert worker_error(log) == "error: config key 'beta': bad"


@pytest.mark.slow
def test_sft_matches_single_process_under_ddp_zero2_zero3(sft_runs):
    reference = train_records(sft_runs["single"])
    assert sorted(reference) == [1, 2, 3]
    assert reference[3]["loss"] < reference[1]["loss"] * 0.95  # the steps do train
    for name in ("ddp", "zero2", "zero3"):
        assert_same_steps(name, train_records(sft_runs[name]), reference, SFT_KEYS, [1, 2, 3])
        assert_same_weights(name, sft_runs[name], sft_runs["single"])
        assert all(r["world_size"] == 2 and r["global_step"] == 3 for r in rank_files(sft_runs[name]))


@pytest.mark.slow
def test_bf16_sft_under_zero3_on_cpu(sft_runs):
    """bf16 as the GPU configs train it (DeepSpeed bf16: bf16 weights, an fp32 master copy), on CPU
    processes. bf16 keeps 8 bits of mantissa (~4e-3 relative per rounding), so the losses follow the
    fp32 single-process run within 2e-2 relative (a lost or doubled update moves step 2/3 by ~8 %). The
    weights agree within 2.5e-2: Adam's first steps move each weight by about the learning rate whatever
    the gradient's size, so a small gradient whose sign bf16 flips moves a weight by 2 x 3e-3 per step
    (1.8e-2 in 3 steps), plus the bf16 rounding of the saved value (< 4e-3 below 2). The saved HF folder
    holds bf16 weights."""
    import torch

    got, want = train_records(sft_runs["zero3_bf16"]), train_records(sft_runs["single"])
    for step in (1, 2, 3):
        assert got[step]["loss"] == pytest.approx(want[step]["loss"], rel=2e-2), step
    a, b = weights(sft_runs["zero3_bf16"]), weights(sft_runs["single"])
    assert sorted(a) == sorted(b) and {t.dtype for t in a.values()} == {torch.bfloat16}
    worst = max((a[k].float() - b[k]).abs().max().item() for k in b)
    assert worst <= 2.5e-2


@pytest.mark.slow
def test_grpo_on_two_cpu_processes(ddp_grpo):
    from geor1.models import load_model

    ranks = rank_files(ddp_grpo)
    assert [r["process_index"] for r in ranks] == [0, 1]
    assert all(r["world_size"] == 2 and r["backend"] == "gloo" and r["global_step"] == 3 for r in ranks)
    assert all(r["device"].startswith("cpu") and r["peak_rss_mib"] > 0 for r in ranks)
    assert load_model(ddp_grpo / "checkpoint-2").config.model_type == "qwen2_5_vl"
    records = train_records(ddp_grpo)
    # 2 processes x 4 completions: the logged reward means are over both ranks' 8 completions.
    assert sorted(records) == [1, 2, 3]
    assert all(0.0 <= r["frac_reward_zero_std"] <= 1.0 for r in records.values())
    assert records[1]["kl"] == 0.0 and records[2]["kl"] > 0  # the reference model is in use


@pytest.mark.slow
def test_grpo_zero2_on_two_nodes_over_loopback_matches_ddp(zero2_two_nodes_grpo, ddp_grpo):
    ranks = rank_files(zero2_two_nodes_grpo)
    assert [r["process_index"] for r in ranks] == [0, 1]
    assert all(r["world_size"] == 2 and r["backend"] == "gloo" and r["global_step"] == 3 for r in ranks)
    assert_same_steps(
        "zero2 two nodes", train_records(zero2_two_nodes_grpo), train_records(ddp_grpo), GRPO_KEYS, [1, 2, 3]
    )
    assert_same_weights("zero2 two nodes", zero2_two_nodes_grpo / "checkpoint-2", ddp_grpo / "checkpoint-2")


@pytest.mark.slow
def test_grpo_zero3_with_reference_model_matches_ddp(zero3_grpo, ddp_grpo):
    first = zero3_grpo["first"]
    assert all(r["world_size"] == 2 and r["global_step"] == 3 for r in first["ranks"])
    records = first["records"]
    assert records[2]["kl"] > 0  # beta > 0: the ZeRO-3 reference model is used
    assert_same_steps("zero3", records, train_records(ddp_grpo), GRPO_KEYS, [1, 2, 3])
    # checkpoint-2 and the final model of the first run: gathered full weights, ordinary tensor names
    assert_same_weights("zero3 checkpoint-2", zero3_grpo["out"] / "checkpoint-2", ddp_grpo / "checkpoint-2")
    assert_same_weights("zero3 final", first["final"], ddp_grpo)


@pytest.mark.slow
def test_zero3_resume_continues_at_the_same_step_and_band(zero3_grpo):
    out = zero3_grpo["out"]
    first = zero3_grpo["first"]["records"]
    # the band moved on at every logged step; checkpoint-2 holds the band after step 2
    assert [first[s]["curriculum/band_index"] for s in (1, 2, 3)] == [1, 2, 2]
    assert json.loads((out / "checkpoint-2" / "curriculum.json").read_text())["index"] == 2
    resumed = train_records(out)
    assert sorted(resumed) == [1, 2, 3]  # steps 1-2 kept from before the stop, step 3 trained once
    assert resumed[2] == first[2]
    # a fresh curriculum would have logged band 1 at step 3 (0 -> 1); the restored one stays on band 2
    assert resumed[3]["curriculum/band_index"] == 2
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    assert all(r["global_step"] == 3 for r in rank_files(out))
    # the 16-bit gather was switched off on the command line; geor1 turned it back on
    assert "turning on zero3_save_16bit_model" in zero3_grpo["resumed_log"]
    for folder in (out, out / "checkpoint-3"):
        assert (folder / "model.safetensors").is_file() and (folder / "processor_config.json").is_file()
        assert sorted(weights(folder)) == sorted(weights(out / "checkpoint-2"))


NO_DEEPSPEED_SCRIPT = """
import importlib.util, json, sys
sys.modules["deepspeed"] = None  # as if it were not installed: find_spec gives None, import fails
assert importlib.util.find_spec("deepspeed") is None
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from geor1.cli import build_app
from geor1.serve import ServeSettings, create_app
from geor1.serve.engine import HFChatEngine

model, data, runs, *images = sys.argv[1:]
cli = CliRunner()
done = cli.invoke(build_app(), ["eval", "run", "--model", model, "--tasks", "pairing", "--data",
    f"pairing={data}", "--run", "z3", "--runs-dir", runs, "--limit", "2", "--max-new-tokens", "8", "--no-plots"])
assert done.exit_code == 0, done.output + repr(done.exception)
done = cli.invoke(build_app(), ["predict", *images, "--task", "pair", "--model", model, "--max-new-tokens", "8"])
assert done.exit_code == 0, done.output + repr(done.exception)
with TestClient(create_app(HFChatEngine(model, model_name="z3"), ServeSettings())) as client:
    reply = client.post("/v1/chat/completions", json={"model": "z3", "max_tokens": 8,
        "messages": [{"role": "user", "content": "Where is this?"}]})
assert reply.status_code == 200, reply.text
print(json.dumps({"deepspeed_loaded": "deepspeed" in sys.modules and sys.modules["deepspeed"] is not None}))
"""


@pytest.mark.slow
def test_zero3_model_loads_without_deepspeed_in_eval_predict_serve(zero3_grpo, tmp_path):
    data = zero3_grpo["data"]
    example = json.loads(data.read_text().splitlines()[0])
    images = [str(data.parent / rel) for rel in example["images"]]
    script = tmp_path / "no_deepspeed.py"
    script.write_text(NO_DEEPSPEED_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(zero3_grpo["out"]), str(data), str(tmp_path / "runs"), *images],
        cwd=tmp_path,
        env=subprocess_env(1),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {"deepspeed_loaded": False}
    assert (tmp_path / "runs" / "z3" / "eval" / "pairing.json").is_file()


def _launch_env(config: str, *launch_args: str) -> tuple[object, dict[str, str]]:
    """Return accelerate's parsed launch arguments for a config and the environment its workers get."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    parser = launch_command_parser()
    args = parser.parse_args(
        ["--config_file", str(ROOT / "configs" / "accelerate" / f"{config}.yaml"), *launch_args, "x.py"]
    )
    args, defaults, _ = _validate_launch_command(args)
    if args.use_deepspeed and not args.cpu:
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
        return args, prepare_deepspeed_cmd_env(args)[1]
    if args.use_fsdp or args.multi_gpu:
        return args, prepare_multi_gpu_env(args)
    return args, {}


@pytest.mark.parametrize(
    ("config", "stage", "processes", "precision"),
    [("zero2", 2, 8, "bf16"), ("zero3", 3, 8, "bf16"), ("zero2_cpu", 2, 2, "no"), ("zero3_cpu", 3, 2, "no")],
)
def test_deepspeed_launch_configs_parse(config, stage, processes, precision, monkeypatch):
    from accelerate.utils import DeepSpeedPlugin

    args, env = _launch_env(config)
    # DeepSpeed only when accelerate is not told to use the CPU (then DeepSpeed picks its CPU accelerator)
    assert args.use_deepspeed and not args.cpu and args.num_processes == processes
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    plugin = DeepSpeedPlugin()
    assert plugin.zero_stage == stage and env["ACCELERATE_MIXED_PRECISION"] == precision
    if stage == 3:
        assert plugin.zero3_init_flag
        assert plugin.deepspeed_config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"]


def test_fsdp_gpu_config_parses_and_wraps_qwen_layers(monkeypatch):
    from accelerate.utils import FullyShardedDataParallelPlugin
    from transformers.models.qwen2_5_vl import modeling_qwen2_5_vl

    args, env = _launch_env("fsdp")
    assert args.use_fsdp and not args.cpu and args.num_processes == 8
    assert env["ACCELERATE_USE_FSDP"] == "true" and env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2 and "FULL_STATE_DICT" in str(plugin.state_dict_type)
    assert plugin.transformer_cls_names_to_wrap == ["Qwen2_5_VLDecoderLayer", "Qwen2_5_VLVisionBlock"]
    assert all(hasattr(modeling_qwen2_5_vl, name) for name in plugin.transformer_cls_names_to_wrap)


FSDP_ON_CPU_SCRIPT = """
import os
from accelerate import Accelerator
from accelerate.utils import FullyShardedDataParallelPlugin
for cpu in (True, False):
    state = Accelerator(cpu=cpu, fsdp_plugin=FullyShardedDataParallelPlugin(fsdp_version=2)).state
    print(cpu, state.distributed_type.value, getattr(state, "fsdp_plugin", None) is not None)
    state._reset_state(reset_partial_state=True)
"""


def test_fsdp_is_not_available_on_cpu(tmp_path):
    """accelerate 1.15 turns FSDP on only over GPU-type backends: on CPU processes the FSDP plugin is
    dropped (use_cpu: MULTI_CPU, plain data parallel; without use_cpu and no GPU: not distributed), so
    there is no CPU FSDP run to test. When an accelerate upgrade changes this, this test fails: then add
    an fsdp_cpu.yaml and launch it like the ZeRO runs."""
    env = dict(subprocess_env(1), RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", LOCAL_WORLD_SIZE="1")
    env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), ACCELERATE_USE_FSDP="true")
    done = subprocess.run(
        [sys.executable, "-c", FSDP_ON_CPU_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line.split() for line in done.stdout.splitlines()]
    assert lines == [["True", "MULTI_CPU", "False"], ["False", "NO", "False"]]


@pytest.mark.slow
def test_killed_grpo_run_resumes_to_the_same_step_count(tmp_path, tiny_model_dir, pairing_jsonl):
    out = tmp_path / "run"
    config = tiny_grpo_config(
        tmp_path / "c.yaml", tiny_model_dir, pairing_jsonl, out, max_steps=4, save_steps=2
    )
    command = [sys.executable, "-m", "geor1.cli", "grpo", str(config)]
    env = subprocess_env(1)
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    metrics = out / "metrics.jsonl"
    deadline = time.monotonic() + 180
    try:
        # Kill once the first checkpoint is complete and training has moved past it.
        while time.monotonic() < deadline and process.poll() is None:
            complete = (out / "checkpoint-2" / "trainer_state.json").exists()
            if complete and metrics.exists() and '"step": 3' in metrics.read_text():
                break
            time.sleep(0.05)
        assert process.poll() is None, (
            "the run ended before it could be killed: " + process.stderr.read()[-2000:]
        )
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (out / "ranks" / "rank-0.json").exists()

    resumed = subprocess.run(
        [*command, "--resume_from_checkpoint", "latest"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Traceback" not in resumed.stderr
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and state["max_steps"] == 4
    assert json.loads((out / "ranks" / "rank-0.json").read_text())["global_step"] == 4
    steps = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
    train_steps = [s for s in steps if s]
    assert train_steps[:-1] == list(range(1, 5))  # metrics follow the resumed history, no duplicates
