"""``geo-r1 demo``: the whole Geo-R1 loop on CPU in one command.

Offline Earth views → pairing/geolocation/place-chain tasks split by place → tiny Qwen2.5-VL →
template-teacher CoT → SFT (scaffolding) → GRPO on pairing (elevating) → evaluation of base, SFT,
SFT+GRPO and GRPO-without-SFT on held-out places → ``report.md`` / ``report.html``. Stages are resumable
(``pipeline``), settings live in ``config.DemoConfig``.
"""

from geor1.demo.config import MODELS, DemoConfig
from geor1.demo.pipeline import demo_stages, run_demo
from geor1.demo.stages import DemoPaths

__all__ = ["MODELS", "DemoConfig", "DemoPaths", "demo_stages", "run_demo"]
