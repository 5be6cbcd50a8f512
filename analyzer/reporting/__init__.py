"""Reporting: the files a run leaves, in SageMaker's formats."""
