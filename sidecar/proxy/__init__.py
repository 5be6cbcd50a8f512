"""The request path: forward each exchange to the upstream untouched and relay the answer."""
