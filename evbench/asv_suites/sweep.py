"""What every suite class shares: the case of a parameter combination, and one ``setup_cache``
that runs the whole selection once per asv run (:func:`evbench.harness.bench.asv_sweep`)."""
from __future__ import annotations

import os

from ..harness import bench


class Sweep:
    """Base of the suite classes: parameters, the shared ``setup_cache`` and the helpers their
    ``setup`` methods use (it holds no benchmark itself). A suite module's ``classes(selection)``
    binds its subclasses to a :class:`~evbench.asv_suites.Selection` (:func:`bind`)."""

    param_names = list(bench.PARAM_NAMES)
    version = bench.SUITE_VERSION
    product_key = None
    selection = None

    def setup_cache(self):
        sel = self.selection
        return bench.asv_sweep(sel.the_grid, sidecar_dir=sel.sidecar, families=sel.families or None,
                               backends=sel.backends or None, products=sel.products or None,
                               devices=sel.devices or None)

    setup_cache.timeout = 86_400  # bounded by the grid's sweep_timeout, set per selection (bind)

    def case(self, params) -> bench.BenchCase:
        return bench.case_from_params(self.product_key, *params, workload=self.selection.the_grid.workload)

    def selected(self) -> None:
        """A skip (``NotImplementedError``) for a product the selection leaves out."""
        if not self.selection.selects(self.product_key):
            raise NotImplementedError(f"{self.product_key} is not among the selected products "
                                      f"{', '.join(self.selection.products)}")

    def prepare(self, sweep, params):
        """The case built in this process and warmed up; a skip (``NotImplementedError``) or
        error as the sweep found it, checked after the device."""
        import jax

        self.selected()
        case = self.case(params)
        bench.configure_process()
        bench.device_for(case.device)
        bench.sweep_record(sweep, case)
        bench.configure_process(cache_dir=os.getcwd())  # asv's cache directory, shared by the run
        prep = bench.prepare(case, reuse=bench.Reuse(bench.Structures(keep=0, disk=os.getcwd())),
                             seed=self.selection.the_grid.seed)
        jax.config.update("jax_default_device", prep.device)
        bench.warm_up(prep)
        return prep

    def record(self, sweep, params) -> dict:
        self.selected()
        case = self.case(params)
        rec = bench.sweep_record(sweep, case)
        if rec is None:
            raise NotImplementedError(f"{case.describe()}: not in this run's sweep")
        return rec


def bind(selection, *classes) -> dict:
    """``{name: class}`` of ``classes`` bound to ``selection``: each gets it, the asv ``params``
    of its product (unless it sets its own) and the grid's time limits."""
    g = selection.the_grid
    out = {}
    for cls in classes:
        cls.selection = selection
        cls.timeout = g.timeout
        Sweep.setup_cache.timeout = g.sweep_timeout  # one setup_cache for every class
        if cls.product_key is not None and "params" not in cls.__dict__:
            from ..catalogue import get_product

            cls.params = selection.params(get_product(cls.product_key))
        out[cls.__name__] = cls
    return out


def class_name(product_key: str) -> str:
    """The suite class of a product: ``vecmat_batch`` → ``VecmatBatch``, ``matvec_T`` → ``MatvecT``."""
    return "".join(part[:1].upper() + part[1:] for part in product_key.split("_"))


def product_class(base, product, what: str):
    """A subclass of ``base`` for one catalogue product (asv names its benchmarks
    ``<module>.<class>.<method>``: the class names stay those of the products)."""
    return type(class_name(product.key), (base,), {
        "product_key": product.key, "__module__": base.__module__,
        "__doc__": f"``{product.expr}`` of every family × backend: {what}."})
