"""evbench as a conformance kit for other libraries' tests.

* :mod:`evbench.testing.strategies`: hypothesis strategies for structures, events and cases;
* :mod:`evbench.testing.pytest_plugin`: ``pytest --evbench-backend NAME`` runs evbench's
  conformance checks on a backend as ordinary tests (installed with evbench, entry point
  ``pytest11``); README "Your own backend".
"""
