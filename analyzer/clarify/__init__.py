"""SageMaker Clarify's two monitors: bias drift and feature attribution drift (DESIGN.md §14)."""
