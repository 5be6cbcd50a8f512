"""Constraints suggested from a baseline, one module per monitor: what a later run is held to.

Each suggester takes the baseline's values in memory and returns `analyzer.results.constraints`
shapes; `reporting` writes them.
"""
