"""Thin adapters for NumPy, PyTorch and JAX; import the one for your framework (each imports it lazily)."""
