"""Structures partitioned over a device mesh: ``shard(M, mesh)`` (:mod:`.sharded`), the blocks
(:mod:`.blocks`) and the devices (:mod:`.devices`)."""
from .devices import AXIS, device_mesh, virtual_cpu_devices
from .sharded import AXES, REDUCTIONS, Sharded, natural_axis, phases, shard

__all__ = ["AXES", "AXIS", "REDUCTIONS", "Sharded", "device_mesh", "natural_axis", "phases", "shard",
           "virtual_cpu_devices"]
