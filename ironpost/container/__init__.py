"""Container guard: alerts about workloads become Docker actions (pause, stop, network disconnect)
under operator-written policies. Only `ironpost.core` (and `ironpost.storage` in the CLI) is imported."""
