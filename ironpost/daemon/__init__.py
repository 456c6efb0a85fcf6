"""The daemon: wires the modules to the bus and storage, supervises them, serves control and metrics."""
