"""Experiment tracking on MLflow: runs that always end, non-blocking logging, captured context.

Importing this package is cheap; mlflow loads when a run starts.
"""
