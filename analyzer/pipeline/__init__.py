"""Runs end to end (monitoring, model quality): the one place that drives every stage."""
