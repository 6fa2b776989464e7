"""evbench.harness."""
