"""Capture: what is kept of each exchange (policy, sampling, the in-flight copy budget), token
streams followed as they pass, and the capturer that stages exchanges in the bounded queue to the
writer; record lines are made by the writer (delivery/) with common/record.py's encoder."""
