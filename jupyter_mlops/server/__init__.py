"""The Jupyter server extension: thin REST handlers over the core, under ``/mlops/api/``."""
