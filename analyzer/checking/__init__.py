"""Checking: data-quality constraints and drift against the baseline."""
