"""Decoding: capture records and their payloads into feature rows."""
