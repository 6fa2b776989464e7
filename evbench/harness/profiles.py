"""What validation checks: the profiles (grids of cases per family) and the cases they make.

A profile crosses shapes, connection probabilities, active fractions, event kinds, dtypes,
seeds and the family's variants (:func:`profile_cases`), and adds the *path cases*
(:func:`path_cases`): cases drawn on both sides of every point where a kernel changes path
(the batch grouping of the CPU kernels, the block boundaries of the just-in-time kernels),
read from the kernels themselves (:func:`evbench.ops.cpu.thresholds`), so that a bug on a path
the ordinary shapes never reach still fails validation.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from ..catalogue import Family
from ..registry import Registry
from .cases import Case


@dataclass(frozen=True)
class Profile:
    """A grid of cases per family: every combination of these axes and every variant.

    The single-structure checks (semantics, transposition, batching, jit, gradients,
    determinism) run on one *probe* structure per family, the largest float64 one, with the
    family's default variant (``probe_variants="default"``) or each variant (``"all"``).
    """

    shapes: tuple
    conn_probs: tuple
    actives: tuple
    event_kinds: tuple   # (event dtype or "weight", values)
    dtypes: tuple
    seeds: tuple
    probe_variants: str = "default"
    #: shape of the matrices drawn for the statistical checks
    stat_shape: tuple = (500, 400)
    #: "full": every shape × dtype × variant; "covering": the largest shape in the first
    #: dtype and the smallest in the second with the default variant, and each other variant
    #: at the largest shape in alternating dtypes, so that every shape, dtype and variant
    #: appears at a fraction of the compilations
    design: str = "full"
    #: the path cases: active fractions and the connection probability they use
    path_actives: tuple = (0.05, 1.0)
    path_conn_prob: float = 0.5
    #: whether the path cases are part of the profile (they check the native kernels only)
    paths: bool = True
    name: str = "custom"


PROFILES: Registry[Profile] = Registry("validation profile")
PROFILES.register(Profile(
    name="quick",
    shapes=((1, 1), (300, 200)),
    conn_probs=(0.1,),
    actives=(0.0, 0.05, 1.0),
    event_kinds=(("bool", "ones"), ("weight", "signed")),
    dtypes=("float64", "float32"),
    seeds=(0,),
    design="covering",
))
PROFILES.register(Profile(
    name="thorough",
    shapes=((1, 1), (1, 40), (40, 1), (37, 23), (300, 200), (1000, 1500)),
    conn_probs=(0.0, 0.02, 0.1, 0.5, 1.0),
    actives=(0.0, 0.01, 0.05, 0.3, 1.0),
    event_kinds=(("bool", "ones"), ("weight", "ones"), ("weight", "positive"), ("weight", "signed")),
    dtypes=("float32", "float64"),
    seeds=(0, 1),
    probe_variants="all",
    path_actives=(0.0, 0.05, 0.5, 1.0),
))


def _design(family: Family, profile: Profile):
    """``(shape, dtype, variant)`` of every structure of the profile for ``family``."""
    variants = family.variants()
    if profile.design == "full":
        yield from ((s, d, v) for s, d, v in itertools.product(profile.shapes, profile.dtypes, variants))
        return
    big = max(profile.shapes, key=lambda s: s[0] * s[1])
    small = min(profile.shapes, key=lambda s: s[0] * s[1])
    first, second = profile.dtypes[0], profile.dtypes[-1]
    yield big, first, variants[0]
    if (small, second) != (big, first):
        yield small, second, variants[0]
    for i, v in enumerate(variants[1:]):
        yield big, (second, first)[i % 2], v


def path_shape(family: Family, thresholds: dict) -> tuple[int, int]:
    """A shape whose batched event-driven product crosses the kernels' paths: its output axis
    long enough that a batch of :data:`PATH_BATCH` samples splits into at least three groups,
    the last one partial (``group_elements``), and its generation axis longer than the largest
    block of a just-in-time kernel at :attr:`Profile.path_conn_prob` (``max_block``)."""
    per_group = max(1, PATH_BATCH // 3 - 1)                 # samples per group, at most
    n_out = max(math.ceil(thresholds["group_elements"] / per_group) + 1,
                math.ceil(3 * thresholds["max_block"] / 0.5))
    narrow = 40
    # column-oriented structures run their row kernel on M.T: the long axis is then the rows
    return (n_out, narrow) if family.orientation == "cols" else (narrow, n_out)


#: samples of the batched path cases
PATH_BATCH = 64


def path_cases(family: Family, profile: Profile):
    """Cases on both sides of every path threshold of the kernels (see the module docstring):
    the path shape with a batch of :data:`PATH_BATCH` (grouped) and of 3 (one group), with
    boolean and signed floating events, in float32."""
    from ..ops.cpu import thresholds

    shape = path_shape(family, thresholds())
    default = tuple(sorted(family.check_variant({}).items()))
    for batch, active, (ev, values) in itertools.product((PATH_BATCH, 3), profile.path_actives,
                                                         (("bool", "ones"), ("float32", "signed"))):
        yield Case(family.name, shape, profile.path_conn_prob, 0, "float32", ev, values, active, batch=batch,
                   event_seed=1, variant=default)


def profile_cases(family: Family, profile: Profile):
    """Every case of ``profile`` for ``family``: its grid, then its path cases."""
    for (shape, dtype, variant), p, seed in itertools.product(
            _design(family, profile), profile.conn_probs, profile.seeds):
        for active, (ev, values) in itertools.product(profile.actives, profile.event_kinds):
            yield Case(family.name, shape, p, seed, dtype, dtype if ev == "weight" else ev, values, active,
                       variant=tuple(sorted(variant.items())))
    if profile.paths:
        yield from path_cases(family, profile)


def is_path_group(family: Family, key: tuple) -> bool:
    """Whether a structure group (``structures()``' key) is that of the path cases."""
    return tuple(key[0]) == path_shape(family, _thresholds())


def structures(cases) -> dict:
    """Cases grouped by the structure they use, in profile order."""
    groups: dict = {}
    for case in cases:
        groups.setdefault((case.shape, case.conn_prob, case.seed, case.dtype, case.variant), []).append(case)
    return groups


def probes(family: Family, groups: dict, profile: Profile) -> list:
    """The structures the single-structure checks run on: the largest float64 one of the
    default variant, or of each variant (never a path case: those check the paths only)."""
    default = tuple(sorted(family.check_variant({}).items()))
    best: dict = {}
    for key, cases in groups.items():
        shape, _, _, dtype, variant = key
        if profile.probe_variants == "default" and variant != default:
            continue
        if is_path_group(family, key):
            continue
        rank = (dtype == "float64", shape[0] * shape[1])
        if variant not in best or rank > best[variant][0]:
            best[variant] = (rank, cases[0])
    return [case for _, case in best.values()]


def _thresholds() -> dict:
    from ..ops.cpu import thresholds

    return thresholds()
