"""asv benchmark suites of evbench (``benchmark_dir`` in ``asv.conf.json``); see README, "Benchmarks"."""
