"""Optional PyTorch: the package imports without it; torch-only functions call require_torch()."""

try:
    import torch
except ImportError:
    torch = None


def require_torch(what):
    """Returns the torch module, or raises ImportError saying that `what` needs it."""
    if torch is None:
        raise ImportError(
            f"triageattention.{what} needs PyTorch, which is not installed "
            "(pip install torch); the compiled core and its CPU reference work without it"
        )
    return torch
