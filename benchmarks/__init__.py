"""fedlib's benchmark suite: one module per benchmark on a shared harness; ``run.py`` is the command line."""
