"""The sharded products checked, timed and modelled: validation (:mod:`.validate`), scaling
benchmarks (:mod:`.bench`), the communication model (:mod:`.model`) and the command
(:mod:`.command`)."""
