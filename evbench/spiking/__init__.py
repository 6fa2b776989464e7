"""evbench.spiking."""
