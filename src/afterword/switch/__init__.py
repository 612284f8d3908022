"""The switch: policy and the pure lifecycle state machine (no I/O, no clock)."""
