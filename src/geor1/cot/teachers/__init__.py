"""Chain-of-thought teachers: template (offline, from metadata), OpenAI-compatible HTTP, local HF model.

All implement ``geor1.cot.teachers.base.Teacher``; import the module of the one you need (the HTTP and
HF teachers pull in ``openai`` / ``transformers``).
"""
