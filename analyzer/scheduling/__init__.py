"""Scheduling: which hours are due, the hourly loop, its metrics and their server."""
