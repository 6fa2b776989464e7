"""Validation of every catalogue operator against its reference: the conformance table."""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import pandas as pd

from .cases import Case, Prepared, check
from .catalogue import PRODUCTS, Family, families, get_family


@dataclass(frozen=True)
class Profile:
    """A grid of cases per family: every combination of these axes and every variant."""

    shapes: tuple
    conn_probs: tuple
    actives: tuple
    event_kinds: tuple   # (event dtype or "weight", values)
    dtypes: tuple
    seeds: tuple


PROFILES = {
    "quick": Profile(
        shapes=((1, 1), (300, 200)),
        conn_probs=(0.1,),
        actives=(0.0, 0.05, 1.0),
        event_kinds=(("bool", "ones"), ("weight", "signed")),
        dtypes=("float32", "float64"),
        seeds=(0,),
    ),
    "thorough": Profile(
        shapes=((1, 1), (1, 40), (40, 1), (37, 23), (300, 200), (1000, 1500)),
        conn_probs=(0.0, 0.02, 0.1, 0.5, 1.0),
        actives=(0.0, 0.01, 0.05, 0.3, 1.0),
        event_kinds=(("bool", "ones"), ("weight", "ones"), ("weight", "positive"), ("weight", "signed")),
        dtypes=("float32", "float64"),
        seeds=(0, 1),
    ),
}


def profile_cases(family: Family, profile: Profile):
    """Every case of ``profile`` for ``family``."""
    for shape, p, seed, dtype, variant in itertools.product(
            profile.shapes, profile.conn_probs, profile.seeds, profile.dtypes, family.variants()):
        for active, (ev, values) in itertools.product(profile.actives, profile.event_kinds):
            yield Case(family.name, shape, p, seed, dtype, dtype if ev == "weight" else ev, values, active,
                       variant=tuple(sorted(variant.items())))


def validate(family_names=None, profile: str = "quick", progress: bool = True) -> pd.DataFrame:
    """Run every product of every selected family over the profile's cases.

    Returns one row per family × product: cases run, failures, the largest error and the
    tolerance at that output, the largest error relative to its tolerance, and the smallest
    failing case (with a snippet that reproduces it) when there is one.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    fams = [get_family(n) for n in family_names] if family_names else list(families())
    prof = PROFILES[profile]
    work = [(fam, list(profile_cases(fam, prof))) for fam in fams]
    total = sum(len(cases) for _, cases in work) * len(PRODUCTS)
    bar = _progress(total, progress)
    rows = []
    for fam, cases in work:
        stats = {p.key: dict(cases=0, failed=0, max_error=0.0, tolerance=0.0, worst_ratio=0.0, min_active=1.0,
                             max_active=0.0, smallest_failure=None, seconds=0.0) for p in PRODUCTS}
        prepared = {}
        for case in cases:
            key = (case.shape, case.conn_prob, case.seed, case.dtype, case.variant)
            if key not in prepared:
                prepared = {key: Prepared(case)}  # cases of one structure come together
            for product in PRODUCTS:
                t0 = time.perf_counter()
                res = check(case, product, prepared[key])
                st = stats[product.key]
                st["seconds"] += time.perf_counter() - t0
                st["cases"] += 1
                if res.ratio >= st["worst_ratio"]:
                    st.update(worst_ratio=res.ratio, max_error=res.error, tolerance=res.tolerance)
                st["min_active"] = min(st["min_active"], res.active_fraction)
                st["max_active"] = max(st["max_active"], res.active_fraction)
                if not res.passed:
                    st["failed"] += 1
                    size = case.shape[0] * case.shape[1]
                    if st["smallest_failure"] is None or size < st["smallest_failure"][0]:
                        st["smallest_failure"] = (size, case.describe(), case.snippet(product))
                bar.update(1)
        for product in PRODUCTS:
            st = stats[product.key]
            fail = st.pop("smallest_failure")
            rows.append(dict(
                family=fam.name, product=product.expr,
                event_driven=fam.event_driven_for(product),
                status="pass" if st["failed"] == 0 else "FAIL",
                **st,
                failing_case=fail[1] if fail else "", reproduce=fail[2] if fail else "",
            ))
    bar.close()
    frame = pd.DataFrame(rows)
    frame["seconds"] = frame["seconds"].round(3)
    return frame


def _progress(total, enabled):
    if enabled:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc="validate", unit="check", leave=False)

    class _Null:
        def update(self, n):
            pass

        def close(self):
            pass

    return _Null()
