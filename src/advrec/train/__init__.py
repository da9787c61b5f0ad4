"""Training utilities shared by iterative models (loop, callbacks, checkpoints)."""
