"""Experiments: one-run pipeline, TOML experiment files, tuning, the demo."""
