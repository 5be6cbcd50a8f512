"""Engines: where profiling runs (today a local process pool)."""
