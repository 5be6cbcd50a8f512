"""Runs end to end, one module per kind of run (monitoring, model quality, a baseline from
captures): each drives its stages in order and hands the result to `reporting`. Reading is the
engines' job for data quality; the model-quality join streams the capture and label files
itself (checking/quality/join.py, labels.py), holding at most --read-concurrency files at once."""
