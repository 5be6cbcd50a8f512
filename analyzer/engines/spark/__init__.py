"""The Spark engine: baselines and monitoring runs profiled on Spark executors, merged here."""
