"""Kernel backends: the real multikernel filesystem and syscalls, and the simulated host."""
