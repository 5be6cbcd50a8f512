"""Capture: which exchanges, redaction, record encoding, and the bounded queue to the writer."""
