"""Mutation testing of geor1's core modules with mutmut, one group of modules at a time.

Run: ``python benchmarks/mutation.py [GROUP ...] [--timeout SECONDS] [--max-children N]`` (``make mutation``
runs every group). Groups: judge, rewards, vlmr1, tasks, eval, serve, grpo.

Each group mutates only its own modules and runs only the fast test files that exercise them, so a mutant
is judged by the tests written for its module (a survivor here may still be caught by a slower end-to-end
test). mutmut reads its settings from ``pyproject.toml`` in the folder it runs in, so every group gets its
own folder ``.mutation/<group>/`` holding a generated ``pyproject.toml`` (the project's pytest settings plus
that group's ``[tool.mutmut]``) and links to ``src``, ``tests``, ``benchmarks`` and ``configs``; mutmut's
``mutants/`` folder and its results stay there, so a rerun only tests mutants whose code or tests changed
(delete the group's folder to start over).

``--survivors`` tests again only the mutants a group's last run left alive (after tests were added for
them), keeping every other verdict; ``--only PATTERN`` tests (again) only the mutants whose names match a
glob such as ``'geor1.rewards.geodesic.*'`` (mutmut runs the mutants it estimates fastest first, so a
time-capped run may otherwise never reach a module). Each group's survivors are listed in ``.mutation/<group>/survivors.txt``
(``mutmut show NAME`` in that folder prints a mutant's diff), all verdicts in ``statuses.json`` there, and
the counts per module in ``.mutation/summary.json``.
"""

from __future__ import annotations

import argparse
import collections
import fnmatch
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"

# group -> (modules to mutate, pytest arguments selecting the tests that judge them)
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    # the answer judge and the accuracy reward built on it (the verdict every reward, the CoT filter and eval share)
    "judge": (
        ["src/geor1/judge.py", "src/geor1/rewards/accuracy.py"],
        ["tests/test_judge.py", "tests/test_rewards.py", "tests/test_rewards_spec.py"],
    ),
    # the other Geo-R1 rewards and the name/weight registry
    "rewards": (
        [
            f"src/geor1/rewards/{name}.py"
            for name in ("format", "geodesic", "repetition", "base", "length", "registry")
        ],
        ["tests/test_rewards.py", "tests/test_rewards_spec.py", "tests/test_judge.py"],
    ),
    # the reference's rewards (vlmr1_*), which the tests compare with a straight reference implementation
    # (benchmarks/rewards.py) on generated text
    "vlmr1": (
        ["src/geor1/rewards/vlmr1.py"],
        ["tests/test_rewards.py", "tests/test_rewards_spec.py", "tests/test_judge.py"],
    ),
    "tasks": (
        ["src/geor1/builders/pairing.py", "src/geor1/builders/split.py"],
        [
            "tests/test_tasks_split.py",
            "tests/test_tasks_pairing_config.py",
            "tests/test_tasks_pairing.py",
            "tests/test_tasks_pairing_vigor.py",
            "tests/test_tasks_common.py",
        ],
    ),
    "eval": (
        ["src/geor1/eval/cache.py", "src/geor1/eval/types.py", "src/geor1/eval/metrics.py"],
        [
            "tests/test_eval_cache.py",
            "tests/test_eval_metrics.py",
            "tests/test_eval_metrics_edges.py",
            "-k",
            "not retrained_hf_model",
        ],
    ),
    "serve": (
        ["src/geor1/serve/requests.py"],
        ["tests/test_serve_requests.py", "tests/test_serve_request_contract.py"],
    ),
    # GRPO runs of the tiny model take seconds to minutes on a shared CPU: the mutants of grpo.py are judged by
    # the tests that build a trainer or parse a config without training (test_train_grpo_build.py, a few of
    # test_train_grpo.py); the training tests run in CI
    "grpo": (
        ["src/geor1/train/grpo.py"],
        [
            "tests/test_train_grpo_build.py",
            "tests/test_train_grpo.py",
            "tests/test_train_config.py",
            "-k",
            "grpo_build or reward_weights or length_reward_counts or curriculum_state or curriculum_callback"
            " or not grpo",
        ],
    ),
}

LINE = re.compile(r"^\s*(?P<name>[\w.]+__mutmut_\d+): (?P<status>[\w ]+)$")


def pyproject_for(modules: list[str], test_args: list[str]) -> str:
    """Return the group's pyproject.toml: the project's pytest settings and the group's mutmut settings."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pytest_opts = project["tool"]["pytest"]["ini_options"]
    lines = ["[tool.pytest.ini_options]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in pytest_opts.items()]
    lines += [
        "",
        "[tool.mutmut]",
        'source_paths = ["src"]',
        f"only_mutate = {json.dumps(modules)}",
        f"pytest_add_cli_args_test_selection = {json.dumps(test_args)}",
        'pytest_add_cli_args = ["-p", "no:cacheprovider"]',
        # test_rewards loads the reference rewards of benchmarks/rewards.py; test_train_config the recipes
        'also_copy = ["benchmarks", "configs"]',
        "",
    ]
    return "\n".join(lines)


def prepare(group: str) -> Path:
    """Create (or refresh) the group's folder and return it."""
    modules, test_args = GROUPS[group]
    folder = WORK / group
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("src", "tests", "benchmarks", "configs"):
        link = folder / name
        if not link.is_symlink():
            if link.exists():
                shutil.rmtree(link)
            link.symlink_to(ROOT / name, target_is_directory=True)
    (folder / "pyproject.toml").write_text(pyproject_for(modules, test_args))
    return folder


def mutmut(folder: Path, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run the mutmut CLI of this Python in ``folder`` (the project's ``src`` is not on PYTHONPATH: the
    mutated copy under ``mutants/`` must be the one imported)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.setdefault("HF_HUB_OFFLINE", "1")
    return subprocess.run(
        [sys.executable, "-m", "mutmut", *args],
        cwd=folder,
        env=env,
        text=True,
        capture_output=True,
        timeout=timeout,
    )


def results(folder: Path) -> dict[str, str]:
    """Return every mutant's status (killed, survived, timeout, no tests, ...) by name."""
    done = mutmut(folder, "results", "--all", "true")
    found = {}
    for line in done.stdout.splitlines():
        match = LINE.match(line)
        if match:
            found[match["name"]] = match["status"].strip()
    return found


def module_of(mutant: str) -> str:
    """Return the module of a mutant name: ``geor1.serve.requests`` of
    ``geor1.serve.requests.x_decode_data_url__mutmut_3`` (a method's part starts with ``xǁClassǁ``)."""
    parts = mutant.split(".")
    while parts and not parts[-1].startswith(("x_", "xǁ")):
        parts.pop()
    return ".".join(parts[:-1])


def main(argv: list[str] | None = None) -> int:
    """Run the groups named (all by default) and print each one's counts per module."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "groups", nargs="*", metavar="GROUP", help=f"one of {', '.join(GROUPS)} (default: all)"
    )
    parser.add_argument("--timeout", type=float, default=None, help="wall-clock seconds per group")
    parser.add_argument("--max-children", type=int, default=1)
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="test again only the mutants the group's last run left alive (after new tests were written)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PATTERN",
        help="test (again) only the mutants whose names match this glob, e.g. 'geor1.rewards.geodesic.*'",
    )
    args = parser.parse_args(argv)
    unknown = [g for g in args.groups if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group {unknown[0]!r}; choose from {', '.join(GROUPS)}")
    summary_path = WORK / "summary.json"
    for group in args.groups or list(GROUPS):
        folder = prepare(group)
        start = time.monotonic()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_before = usage.ru_utime + usage.ru_stime
        saved = folder / "statuses.json"
        before = json.loads(saved.read_text()) if saved.exists() else {}
        names = list(args.only)
        if args.survivors:
            names = [n for n, status in before.items() if status in ("survived", "no tests")]
            if args.only:
                names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in args.only)]
            if not names:
                print(f"{group}: no survivors of an earlier run to test again")
                continue
        try:
            command = ["run", "--max-children", str(args.max_children), *names]
            run = mutmut(folder, *command, timeout=args.timeout)
            # mutmut exits 0 after Ctrl-C (SIGINT) too, printing "Stopping..."
            finished = run.returncode == 0 and "Stopping..." not in run.stdout
            (folder / "run.log").write_text(run.stdout + run.stderr)
        except subprocess.TimeoutExpired:
            finished = False
        seconds = time.monotonic() - start
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = children.ru_utime + children.ru_stime - cpu_before
        # a survivors-only (or --only) run judges just those mutants: every other one keeps its earlier verdict
        now = results(folder)
        chosen = {n: s for n, s in now.items() if any(fnmatch.fnmatchcase(n, p) for p in names)}
        statuses = {**before, **chosen} if names else now
        saved.write_text(json.dumps(statuses, indent=1, sort_keys=True) + "\n")
        per_module: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for name, status in statuses.items():
            per_module[module_of(name)][status] += 1
        survivors = sorted(n for n, s in statuses.items() if s == "survived")
        (folder / "survivors.txt").write_text("".join(f"{n}\n" for n in survivors))
        # read just before writing: another group may have run meanwhile in a second process
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        summary[group] = {
            "run": "survivors" if args.survivors else ("only " + " ".join(args.only) if args.only else "all"),
            "finished": finished,
            "seconds": round(seconds),
            "cpu_seconds": round(cpu),
            "modules": {m: dict(c) for m, c in sorted(per_module.items())},
        }
        summary_path.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"{group}: {'finished' if finished else 'NOT finished'} in {seconds:.0f} s ({cpu:.0f} CPU s)")
        for module, counts in sorted(per_module.items()):
            print(f"  {module}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
