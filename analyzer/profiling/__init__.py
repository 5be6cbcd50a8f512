"""Profiling: mergeable per-feature and per-dataset profiles, KLL sketches, type inference."""
