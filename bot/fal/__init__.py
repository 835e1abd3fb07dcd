"""fal's queue: the backend protocol, the fal_client adapter, its typed errors, the simulation."""
