"""A monitoring run end to end: the one place that drives every stage."""
