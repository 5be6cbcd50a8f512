"""Plumbing shared by every program: structured logs, the capture record format, the key layout."""
