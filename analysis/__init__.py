"""Analysis of VAE sweeps: load trials (Optuna / W&B), flag collapse, draw figures, build the reports."""
