"""What validation checks: the profiles (grids of cases per family) and the cases they make.

A profile crosses shapes, connection probabilities, active fractions, event kinds, dtypes,
seeds and the family's structure options (:func:`profile_cases`), and adds the *path cases*
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
class ValidationProfile:
    """A grid of cases per family: every combination of these axes and every set of structure options.

    The single-structure checks (semantics, transposition, batching, jit, gradients,
    determinism) run on one *probe* structure per family, the largest float64 one, with the
    family's default options (``probe_options="default"``) or each set of options (``"all"``).
    """

    shapes: tuple
    conn_probs: tuple
    actives: tuple
    event_kinds: tuple   # (event dtype or "weight", values)
    dtypes: tuple
    seeds: tuple
    probe_options: str = "default"
    #: shape of the matrices drawn for the statistical checks
    stat_shape: tuple = (500, 400)
    #: "full": every shape × dtype × option set; "covering": the largest shape in the first
    #: dtype and the smallest in the second with the default options, and each other option
    #: set at the largest shape in alternating dtypes, so that every shape, dtype and option set
    #: appears at a fraction of the compilations
    design: str = "full"
    #: the path cases: active fractions and the connection probability they use
    path_actives: tuple = (0.05, 1.0)
    path_conn_prob: float = 0.5
    #: whether the path cases are part of the profile (they check the native kernels only)
    paths: bool = True
    name: str = "custom"


VALIDATION_PROFILES: Registry[ValidationProfile] = Registry("validation profile")
VALIDATION_PROFILES.register(ValidationProfile(
    name="quick",
    shapes=((1, 1), (300, 200)),
    conn_probs=(0.1,),
    actives=(0.0, 0.05, 1.0),
    event_kinds=(("bool", "ones"), ("weight", "signed")),
    dtypes=("float64", "float32"),
    seeds=(0,),
    design="covering",
))
VALIDATION_PROFILES.register(ValidationProfile(
    name="thorough",
    shapes=((1, 1), (1, 40), (40, 1), (37, 23), (300, 200), (1000, 1500)),
    conn_probs=(0.0, 0.02, 0.1, 0.5, 1.0),
    actives=(0.0, 0.01, 0.05, 0.3, 1.0),
    event_kinds=(("bool", "ones"), ("weight", "ones"), ("weight", "positive"), ("weight", "signed")),
    dtypes=("float32", "float64"),
    seeds=(0, 1),
    probe_options="all",
    path_actives=(0.0, 0.05, 0.5, 1.0),
))


def _design(family: Family, profile: ValidationProfile):
    """``(shape, dtype, options)`` of every structure of the profile for ``family``."""
    option_sets = family.option_sets()
    if profile.design == "full":
        yield from ((s, d, v) for s, d, v in itertools.product(profile.shapes, profile.dtypes, option_sets))
        return
    big = max(profile.shapes, key=lambda s: s[0] * s[1])
    small = min(profile.shapes, key=lambda s: s[0] * s[1])
    first, second = profile.dtypes[0], profile.dtypes[-1]
    yield big, first, option_sets[0]
    if (small, second) != (big, first):
        yield small, second, option_sets[0]
    for i, v in enumerate(option_sets[1:]):
        yield big, (second, first)[i % 2], v


def path_shape(family: Family, thresholds: dict) -> tuple[int, int]:
    """A shape whose batched event-driven product crosses the kernels' paths: its output axis
    long enough that a batch of :data:`PATH_BATCH` samples splits into at least three groups,
    the last one partial (``group_elements``), and its generation axis longer than the largest
    block of a just-in-time kernel at :attr:`ValidationProfile.path_conn_prob` (``max_block``)."""
    per_group = max(1, PATH_BATCH // 3 - 1)                 # samples per group, at most
    n_out = max(math.ceil(thresholds["group_elements"] / per_group) + 1,
                math.ceil(3 * thresholds["max_block"] / 0.5))
    narrow = 40
    # column-oriented structures run their row kernel on M.T: the long axis is then the rows
    return (n_out, narrow) if family.orientation == "cols" else (narrow, n_out)


#: samples of the batched path cases
PATH_BATCH = 64


def path_cases(family: Family, profile: ValidationProfile):
    """Cases on both sides of every path threshold of the kernels (see the module docstring):
    the path shape with a batch of :data:`PATH_BATCH` (grouped) and of 3 (one group), with
    boolean and signed floating events, in float32."""
    from ..ops.cpu import thresholds

    th = thresholds()
    shape = path_shape(family, th)
    default = tuple(sorted(family.resolve_options({}).items()))
    for batch, active, (ev, values) in itertools.product((PATH_BATCH, 3), profile.path_actives,
                                                         (("bool", "ones"), ("float32", "signed"))):
        yield Case(family.name, shape, profile.path_conn_prob, 0, "float32", ev, values, active, batch=batch,
                   event_seed=1, options=default)
    # outputs too long for two samples to share the cache: a batch runs one sample at a time
    wide = th["group_elements"] // 2 + 1
    for wide_shape, (ev, values) in itertools.product(((40, wide), (wide, 40)), (("bool", "ones"),
                                                                                 ("float32", "signed"))):
        yield Case(family.name, wide_shape, 0.05, 0, "float32", ev, values, 0.05, batch=3,
                   event_seed=1, options=default)


def profile_cases(family: Family, profile: ValidationProfile):
    """Every case of ``profile`` for ``family``: its grid, then its path cases."""
    for (shape, dtype, options), p, seed in itertools.product(
            _design(family, profile), profile.conn_probs, profile.seeds):
        for active, (ev, values) in itertools.product(profile.actives, profile.event_kinds):
            yield Case(family.name, shape, p, seed, dtype, dtype if ev == "weight" else ev, values, active,
                       options=tuple(sorted(options.items())))
    if profile.paths:
        yield from path_cases(family, profile)


def is_path_group(family: Family, key: tuple) -> bool:
    """Whether a structure group (``structures()``' key) is that of the path cases."""
    return tuple(key[0]) == path_shape(family, _thresholds())


def structures(cases) -> dict:
    """Cases grouped by the structure they use, in profile order."""
    groups: dict = {}
    for case in cases:
        groups.setdefault((case.shape, case.conn_prob, case.seed, case.dtype, case.options), []).append(case)
    return groups


def probes(family: Family, groups: dict, profile: ValidationProfile) -> list:
    """The structures the single-structure checks run on: the largest float64 one of the
    default options, or of each set of options (never a path case: those check the paths only)."""
    default = tuple(sorted(family.resolve_options({}).items()))
    best: dict = {}
    for key, cases in groups.items():
        shape, _, _, dtype, options = key
        if profile.probe_options == "default" and options != default:
            continue
        if is_path_group(family, key):
            continue
        rank = (dtype == "float64", shape[0] * shape[1])
        if options not in best or rank > best[options][0]:
            best[options] = (rank, cases[0])
    return [case for _, case in best.values()]


def _thresholds() -> dict:
    from ..ops.cpu import thresholds

    return thresholds()
