"""OpenAI-compatible HTTP server for a trained model (``geo-r1 serve``)."""

from geor1.serve.app import ServeSettings, create_app

__all__ = ["ServeSettings", "create_app"]
