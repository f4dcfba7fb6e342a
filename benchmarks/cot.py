"""Benchmark ``geo-r1 cot``: template-teacher throughput and HTTP-teacher concurrency efficiency.

Prints:
- template teacher alone (examples/s) and the whole run — teacher + filter + append-only writes — on
  pairing examples over an offline Earth (built here if ``--earth`` is not given);
- HTTP teacher against the local fake chat-completions server (run in its own process) with a fixed
  latency: requests/s at several concurrency levels, against the ideal ``concurrency / latency``.

Targets: template teacher >= 2,000 examples/s; HTTP >= 80 % of concurrency / latency. The HTTP rate is
bounded by CPU (client + server share the machine): "client CPU ms/request" shows that cost.

    python benchmarks/cot.py [--earth DIR] [--places 300] [--latency 0.05] [--concurrency 4,8,16]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def pairing_examples(earth: Path, work: Path, places: int) -> tuple[Path, Path]:
    """Return (task file, places file): pairing examples over three view pairs, both directions."""
    from geor1.builders.common import load_view_set, write_task_set
    from geor1.builders.pairing import PairingConfig, build_pairing
    from geor1.sources.earth import build_earth

    if not (earth / "views.jsonl").exists():
        build_earth(earth, places=places, progress=False)
    views = load_view_set(earth / "views.jsonl")
    examples = []
    pairs = [
        ("satellite", "terrain"),
        ("satellite", "landcover"),
        ("landcover", "terrain"),
        ("context", "terrain"),
    ]
    for seed, (query, candidate) in enumerate(pairs):
        config = PairingConfig(
            query_view=query, candidate_view=candidate, band="mixed", direction="both", seed=seed
        )
        examples += build_pairing(views, config, work)[0]
    tasks = work / "pairing.jsonl"
    write_task_set(tasks, examples)
    return tasks, earth / "places.jsonl"


def bench_template(tasks: Path, places_file: Path, work: Path) -> None:
    from geor1.cot.places import PlaceLookup
    from geor1.cot.runner import CotRunConfig, CotRunner, load_examples
    from geor1.cot.teachers.base import TeacherJob, derive_seed
    from geor1.cot.teachers.template import TemplateTeacher

    examples = load_examples(tasks)
    teacher = TemplateTeacher(PlaceLookup.from_jsonl(places_file))
    repeats = max(1, 5000 // len(examples))
    jobs = [TeacherJob(e, r, derive_seed(0, e["id"], r)) for r in range(repeats) for e in examples]
    start = time.perf_counter()
    results = list(teacher.generate(jobs))
    elapsed = time.perf_counter() - start
    written = sum(r.text is not None for r in results)
    print(
        f"template teacher alone: {len(jobs)} examples in {elapsed:.3f} s = {len(jobs) / elapsed:,.0f} examples/s "
        f"({written / len(jobs):.0%} written, the rest abstained)"
    )
    out = work / "cot.jsonl"
    summary = CotRunner(teacher, config=CotRunConfig(progress=False)).run(tasks, out)
    print(
        f"full run (teacher + filter + writes): {summary.processed} examples in {summary.elapsed_s:.3f} s = "
        f"{summary.examples_per_s:,.0f} examples/s; kept {summary.records_written}, rejections "
        f"{dict(summary.rejections)}"
    )


def start_server(latency: float) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "fake_openai_server.py"), "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline().split()
    if len(line) != 2 or line[0] != "PORT":
        process.kill()
        raise RuntimeError(f"fake server did not start: {line}")
    return process, int(line[1])


def bench_http(tasks: Path, latency: float, levels: list[int], requests_per_level: int) -> None:
    from geor1.cot.runner import load_examples
    from geor1.cot.teachers.base import TeacherJob
    from geor1.cot.teachers.http import HttpTeacher, HttpTeacherConfig

    examples = load_examples(tasks)
    server, port = start_server(latency)
    try:
        for concurrency in levels:
            config = HttpTeacherConfig(
                model="bench", base_url=f"http://127.0.0.1:{port}/v1", concurrency=concurrency
            )
            teacher = HttpTeacher(config)
            try:
                warm = [TeacherJob(examples[i % len(examples)], 0, i) for i in range(concurrency)]
                list(teacher.generate(warm))  # open the connections
                n = max(requests_per_level, 20 * concurrency)
                jobs = [TeacherJob(examples[i % len(examples)], 0, i) for i in range(n)]
                start, cpu_start = time.perf_counter(), time.process_time()
                results = list(teacher.generate(jobs))
                elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            finally:
                teacher.close()
            errors = sum(r.error is not None for r in results)
            rate = n / elapsed
            ideal = concurrency / latency
            print(
                f"http teacher, concurrency {concurrency:3d}, latency {latency * 1000:.0f} ms: {rate:7.1f} requests/s "
                f"= {rate / ideal:.0%} of concurrency/latency ({ideal:.0f}/s); client CPU {cpu / n * 1000:.1f} ms/request; "
                f"{errors} errors"
            )
    finally:
        server.kill()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--earth", type=Path, default=None, help="An offline Earth build folder (built if absent)."
    )
    parser.add_argument("--places", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", default="4,8,16")
    parser.add_argument(
        "--requests", type=int, default=200, help="HTTP requests per concurrency level (at least)."
    )
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "bench")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        earth = args.earth or work / "earth"
        tasks, places_file = pairing_examples(earth, work / "tasks", args.places)
        bench_template(tasks, places_file, work)
        bench_http(tasks, args.latency, [int(c) for c in args.concurrency.split(",")], args.requests)


if __name__ == "__main__":
    main()
