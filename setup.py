"""The packages: ``evbench`` and its subpackages, and the NumPy references of ``reference/``
installed under the name ``evbench_reference`` (a package-dir mapping, which pyproject.toml's
package discovery cannot express). Everything else is in pyproject.toml."""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["evbench", "evbench.*"]) + ["evbench_reference"],
      package_dir={"evbench_reference": "reference"})
