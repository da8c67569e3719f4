"""Trials from an Optuna study or W&B run files into one pandas table, each row flagged healthy / collapsed."""
