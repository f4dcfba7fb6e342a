"""Scaffolding data: synthetic chain-of-thought exemplars for SFT (``geo-r1 cot``).

``teachers/`` write candidate completions (template from metadata, OpenAI-compatible HTTP, local HF
model); ``filter`` keeps the well-formed, correct, non-leaking, non-duplicate ones; ``runner`` drives
both over a task file with append-only, resumable output; ``dataset`` saves the result as a 🤗 dataset.
"""
