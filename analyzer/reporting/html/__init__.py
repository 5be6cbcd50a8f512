"""report.html for every run and the history page of `infertap-analyzer report`."""
