"""The pytest-benchmark suite: every family × product × backend at one small standard point."""
