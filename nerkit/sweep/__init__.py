"""``nerkit sweep``: many training runs as one experiment, on an Optuna study (see docs/sweeps.md)."""
