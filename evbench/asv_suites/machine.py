"""The machine's limits, recorded beside the results so that figures can be read against them."""
from ..harness import bench


class Machine:
    version = bench.SUITE_VERSION
    timeout = 120

    def track_read_bandwidth_gb_s(self):
        """Single-core read bandwidth (a NumPy sum over 256 MiB)."""
        return bench.read_bandwidth()

    track_read_bandwidth_gb_s.unit = "GB/s"


def classes(selection=None) -> dict:
    return {"Machine": Machine}
