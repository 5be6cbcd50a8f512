"""The sidecar's exceptions: one root, so a caller can catch everything the sidecar raises."""

from __future__ import annotations


class SidecarError(Exception):
    """Anything the sidecar raises on purpose; messages name the thing and the fix."""
