"""The results tables: :data:`TABLES` declares each table once (its name, the key columns that
identify a row, its columns, the command that makes it), read by the commands that write them,
the report and :func:`evbench.harness.results.read_table`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..registry import Registry


@dataclass(frozen=True)
class Derived:
    """Columns a table takes from a registry, read when the table is used: the validation
    tables have one column per conformance check (:data:`evbench.harness.checks.CHECKS`)."""

    names: object  # () -> tuple of column names

    def __call__(self) -> tuple:
        return tuple(self.names())


def _check_names() -> tuple:
    from .checks import CHECKS

    return CHECKS.names()


#: one column per conformance check, in the registry's order
CHECK_COLUMNS = Derived(_check_names)


@dataclass(frozen=True)
class Table:
    """One results table: its name (the file prefix), the columns that identify a row (where
    two files hold the same key, the newer counts), its columns in order (``layout``; a
    :class:`Derived` entry stands for the columns a registry gives), those a reader cannot do
    without, and the command that makes it. ``renamed`` maps the column names of files written
    by earlier versions to today's (applied by :func:`read_table`)."""

    name: str
    keys: tuple
    layout: tuple
    made_by: str
    title: str = ""
    required: tuple = ()
    #: one row per repeat of a case (bench): the key identifies a case, not a row
    repeated: bool = False
    renamed: tuple = ()

    @property
    def columns(self) -> tuple:
        return tuple(n for c in self.layout for n in (c() if isinstance(c, Derived) else (c,)))

    def matches(self, filename: str) -> bool:
        return filename.startswith(self.name + "-")


#: the backend's mode column was called ``option`` before the vocabulary was settled
_MODE = (("option", "mode"),)


#: every results table evbench writes (spike-time tables are ``spiketimes-<name>``)
TABLES: Registry[Table] = Registry("results table")
for _t in (
    Table("validate", ("machine", "device", "family", "product", "backend", "mode"),
          ("family", "product", "backend", "mode", "device", "event_driven", "cases", "failed", "max_error",
           "tolerance", "worst_ratio", "status", CHECK_COLUMNS, "failing_case", "reproduce", "seconds", "detail",
           "note"),
          "evbench validate", "one row per family × product × backend mode",
          required=("family", "product", "backend", "status"), renamed=_MODE),
    Table("checks", ("machine", "device", "family", "product", "backend", "mode", "check"),
          ("family", "product", "backend", "mode", "device", "check", "status", "cases", "failed", "max_error",
           "tolerance", "worst_ratio", "detail", "failing_case", "reproduce", "seconds", "event_driven", "note"),
          "evbench validate", "one row per check", required=("family", "backend", "check", "status"), renamed=_MODE),
    Table("bench", ("machine", "family", "backend", "product", "device", "n", "active", "conn_num", "batch", "dtype",
                    "workload"),
          ("family", "backend", "mode", "timing", "product", "expr", "event_driven", "device", "device_name", "n",
           "active", "active_fraction", "touched_fraction", "conn_num", "conn_prob", "batch", "dtype", "workload",
           "status", "reason", "repeat", "time_s", "number", "median_s", "iqr_s", "repeats", "first_call_s",
           "compile_s", "compile_cached", "build_s", "prepare_s", "synaptic_events", "bytes_touched", "events_per_s",
           "effective_gb_s", "machine_read_gb_s", "bandwidth_fraction", "structure_bytes", "backend_bytes",
           "device_bytes_in_use", "device_peak_bytes", "backend_version", "jax", "jaxlib"),
          "evbench bench", "one row per case and repeat", required=("family", "backend", "product", "status"),
          repeated=True, renamed=_MODE),
    Table("spiketimes-exact", ("machine", "model", "n", "k", "delay", "t_ref"),
          ("model", "n", "k", "delay", "t_ref", "n_spikes", "identical_indices", "max_rel_time_error",
           "first_mismatch", "status", "j0", "seconds_reference", "seconds_sparseprop"),
          "evbench spiketimes", "SparseProp against the naive exact reference", required=("model", "status")),
    Table("spiketimes-convergence", ("machine", "model", "backend", "interpolation", "dt_ms"),
          ("model", "backend", "mode", "interpolate", "interpolation", "dt_ms", "n_spikes_ref", "n_spikes_stepped",
           "n_matched", "mean_abs_error_ms", "max_abs_error_ms", "first_divergence_ms", "t_end_ms", "seconds",
           "status", "reason", "window_ms", "n_window", "mean_abs_error_window_ms"),
          "evbench spiketimes", "time-stepped against exact, per dt", required=("model", "dt_ms"), renamed=_MODE),
    Table("spiketimes-order", ("machine", "model", "backend", "interpolation"),
          ("model", "backend", "interpolate", "interpolation", "order", "order_stderr", "n_points", "window_ms",
           "n_spikes_window"),
          "evbench spiketimes", "convergence order in dt", required=("model", "order")),
    Table("spiketimes-operators", ("machine", "model", "backend", "dtype"),
          ("model", "backend", "mode", "dtype", "n_steps", "identical", "first_divergent_step",
           "first_divergent_neuron", "first_divergent_ms", "first_input_difference_step", "max_input_difference_ulps",
           "cause", "status", "reason"),
          "evbench spiketimes", "each backend's operator in a stepped network", required=("model", "backend"),
          renamed=_MODE),
    Table("spiketimes-statistics", ("machine", "model", "impl", "statistic"),
          ("model", "impl", "statistic", "value", "ci_low", "ci_high", "n_units", "ci_method", "dt_ms", "t_ms",
           "divergence_ms", "consistent"),
          "evbench spiketimes", "network statistics beyond the chaotic horizon", required=("statistic", "value")),
    Table("spiketimes-scaling", ("machine", "impl", "model", "n", "k"),
          ("impl", "model", "n", "k", "n_spikes", "seconds", "spikes_per_s", "ns_per_synaptic_update", "cpu_seconds",
           "spikes_per_cpu_s", "synaptic_updates"),
          "evbench spiketimes", "cost per spike against N", required=("impl", "n", "n_spikes", "seconds")),
    Table("spiketimes-ei", ("machine", "model", "family", "backend", "scale"),
          ("model", "backend", "family", "scale", "n_neurons", "sim_ms", "mode", "status", "reason", "compile_s",
           "wall_s", "wall_per_sim_s", "rate_exc_hz", "rate_inh_hz", "in_regime", "expected_rate_hz", "build_s"),
          "evbench spiketimes", "E/I networks: wall time per simulated second",
          required=("model", "backend", "wall_per_sim_s"), renamed=_MODE),
    Table("spiketimes-nest", ("machine", "network", "n", "simulator", "rule"),
          ("network", "n", "n_synapses", "delay_ms", "t_ref_ms", "resolution_ms", "t_end_ms", "simulator", "rule",
           "n_spikes", "n_spikes_nest", "identical", "max_abs_dt_ms", "first_divergence", "first_divergence_ms",
           "first_divergence_neuron", "cause", "seconds", "prepare_s", "seconds_nest", "build_s_nest", "status",
           "n_shared_instants", "n_mixed_waves", "n_at_refractory_end"),
          "evbench spiketimes --against nest", "evbench's exact simulators against NEST's iaf_psc_delta_ps",
          required=("network", "simulator", "rule", "status")),
    # the sharded products (evbench sharded): validation, scaling, collectives, the E/I network, the model
    Table("sharded-validate", ("machine", "family", "options", "product", "n_devices", "axis",
                                           "reduction", "dtype", "check"),
                      ("family", "options", "product", "product_key", "n_devices", "axis", "communication", "reduction", "dtype", "check", "status", "cases", "failed", "max_error", "tolerance", "worst_ratio", "bitwise_unsharded", "detail", "failing_case", "seconds", "build_s"), "evbench sharded validate", "one row per sharded product × check",
                      required=("family", "product", "n_devices", "check", "status"),
                      renamed=(("option", "options"),)),
    Table("sharded-bench", ("machine", "family", "product", "scaling", "n_devices", "n"), ("family", "product", "expr", "scaling", "n_devices", "n", "n_per_device", "conn_num", "conn_prob", "active", "active_fraction", "batch", "dtype", "axis", "communication", "event_driven", "status", "reason", "total_median_s", "total_iqr_s", "local_median_s", "local_iqr_s", "comm_median_s", "comm_iqr_s", "unsharded_median_s", "unsharded_iqr_s", "total_number", "local_number", "comm_number", "unsharded_number", "warmup_s", "comm_bytes_per_device", "synapses_per_device", "structure_bytes", "sharded_bytes", "devices", "cpus"),
                   "evbench sharded bench", "strong and weak scaling, time split into local and communication",
                   required=("family", "product", "n_devices", "status")),
    Table("sharded-collectives", ("machine", "communication", "n_devices", "elements_per_device"),
                         ("communication", "n_devices", "elements_per_device", "comm_bytes_per_device", "comm_median_s", "comm_iqr_s", "number", "status", "devices", "cpus"), "evbench sharded collectives",
                         "all-gather and reduce-scatter alone over message sizes",
                         required=("communication", "n_devices", "comm_bytes_per_device", "comm_median_s")),
    Table("sharded-network", ("machine", "model", "family", "weights", "axis", "dtype", "n_devices"),
                     ("model", "family", "weights", "axis", "dtype", "scale", "n_neurons", "n_devices", "reduction", "n_steps", "sim_ms", "status", "reason", "identical", "first_divergent_step", "first_input_difference_step", "max_input_difference", "spikes_unsharded", "spikes_sharded", "rate_hz", "wall_per_sim_s", "unsharded_wall_per_sim_s", "compile_s", "run_s", "bytes_per_device_per_step", "collectives", "devices"), "evbench sharded network", "the sharded E/I network against the unsharded",
                     required=("model", "n_devices", "identical")),
    Table("sharded-model-local", ("machine", "family", "product"),
                         ("family", "product", "event_driven", "a_s", "c_s_per_synapse", "points", "rel_rms",
                          "status", "reason"),
                         "evbench sharded model", "local cost per synaptic event"),
    Table("sharded-model-comm", ("machine", "communication"),
                        ("communication", "alpha_s", "alpha_per_device_s", "beta_s_per_byte", "gb_per_s", "points",
                         "rel_rms", "status", "reason"), "evbench sharded model", "communication cost per collective"),
    Table("sharded-model-projection", ("machine", "local", "n_neurons", "n_devices", "cut",
                                                           "interconnect"),
                              ("local", "c_s_per_synapse", "n_neurons", "n_devices", "cut", "interconnect",
                               "synapses_per_device",
                               "bytes_per_device", "local_s", "comm_s", "step_s", "comm_share", "break_even_c_s",
                               "wall_per_sim_s",
                               "synapse_bytes_per_device"), "evbench sharded model", "projected step times"),
):
    TABLES.register(_t)

#: the spike-time tables, by the short name ``evbench spiketimes --table`` takes
SPIKETIME_TABLES = tuple(t.name.removeprefix("spiketimes-") for t in TABLES if t.name.startswith("spiketimes-"))


def table_of(path) -> Table | None:
    """The declared table a results file holds, from its name (None: not an evbench table)."""
    name = Path(path).name
    if name.endswith(".meta.json") or Path(name).suffix not in (".csv", ".json"):
        return None
    for table in sorted(TABLES, key=lambda t: -len(t.name)):  # spiketimes-exact before any prefix of it
        if table.matches(name):
            return table
    return None
