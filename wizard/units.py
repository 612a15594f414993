"""Byte units, defined once: GiB and MiB as CUDA, PyTorch and vLLM's logs count them (powers of two)."""

GIB = 1024**3
MIB = 1024**2
