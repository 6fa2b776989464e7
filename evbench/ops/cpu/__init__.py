"""evbench.ops.cpu."""
