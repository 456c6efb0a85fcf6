"""Thresholds over event time, dedup and per-rule rate limits, on a pluggable WindowState."""

from ironpost.core.window import WindowState
from ironpost.log_pipeline.buckets.state import MemoryState
from ironpost.log_pipeline.buckets.threshold import Decision, ThresholdEngine

__all__ = ["Decision", "MemoryState", "ThresholdEngine", "WindowState"]
