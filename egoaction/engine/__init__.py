"""The engine: Lightning module, callbacks, checkpoints, and the train / evaluate / predict entry points."""
