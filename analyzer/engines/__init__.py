"""Engines: where profiling runs, chosen per job with --engine: `local` (this process, or a pool
of --workers processes) or `spark` (a Spark cluster's executors, merged on the driver)."""
