"""Analysis of VAE sweeps, in layers (each imports only from the layers after it; import-linter checks it):

- `report`, `wandb_report`, `notebooks`: the command, the W&B report run and the generated notebooks;
- `show`: figures, tables and the report's prose, which put findings side by side for a reader;
- `findings`: what the trials say, each as numbers or frames and the sentence that states it (seed spread, where
  collapse begins, the exact linear-Gaussian answer, sample quality);
- `read`: trials from Optuna or W&B run files into one table, with the collapse flag per row;
- `numbers`: how every number is written.
"""
