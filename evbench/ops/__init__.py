"""evbench.ops."""
