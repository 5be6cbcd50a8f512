"""Delivery: the writer, spool files on disk, and the sinks they are uploaded to."""
