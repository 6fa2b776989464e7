"""Test configuration: 64-bit JAX (float64 operators) and the hypothesis profiles.

Profiles (select with EVBENCH_HYPOTHESIS_PROFILE):
  ci        derandomised, few examples per test, shapes from a few buckets (the CI gate)
  thorough  random, many examples: for a deeper search before a release
A failing example prints a snippet that rebuilds the case (hypothesis ``note``) and the
``@reproduce_failure`` blob.
"""
import os

import jax

jax.config.update("jax_enable_x64", True)

from hypothesis import HealthCheck, settings  # noqa: E402

_common = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", derandomize=True, max_examples=int(os.environ.get("EVBENCH_MAX_EXAMPLES", 6)),
                          **_common)
settings.register_profile("thorough", max_examples=int(os.environ.get("EVBENCH_MAX_EXAMPLES", 200)), **_common)
settings.load_profile(os.environ.get("EVBENCH_HYPOTHESIS_PROFILE", "ci"))


import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
    """Drop JAX's compilation caches after each module: hundreds of distinct shapes are
    compiled over the suite, and holding all of them only costs memory."""
    yield
    jax.clear_caches()
