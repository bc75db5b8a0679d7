"""Thin adapters for NumPy, PyTorch and JAX; import the one for your framework (each imports it lazily)."""

__all__: list[str] = []  # each name lives in its own module


def __dir__() -> list[str]:
    """Nothing of its own: import a module of this package (its public modules hold the names)."""
    return []
