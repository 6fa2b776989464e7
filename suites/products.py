"""Steady-state time of every product, family and backend (:mod:`evbench.asv_suites.products`)."""
from evbench.asv_suites import products

from ._sweep import SELECTION

globals().update(products.classes(SELECTION))
