"""Thresholds over event time, dedup and per-rule rate limits, on a pluggable WindowState."""

from ironpost.log_pipeline.buckets.state import MemoryState, WindowState
from ironpost.log_pipeline.buckets.threshold import Decision, ThresholdEngine

__all__ = ["Decision", "MemoryState", "ThresholdEngine", "WindowState"]
