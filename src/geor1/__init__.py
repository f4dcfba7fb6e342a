"""geor1: post-train vision-language models for geospatial reasoning (after Geo-R1, arXiv 2510.00072)."""

__version__ = "0.1.0"
