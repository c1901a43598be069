"""TriageAttention: block-sparse GEMM and attention kernels for NVIDIA Hopper GPUs.

The compiled core (``triageattention._C``) takes DLPack arrays and links no torch library, so one
build works with any PyTorch version. The torch API runs on the caller's current stream, never
synchronizes and is registered as ``torch.library`` custom ops (``torch.ops.triageattention``),
so it composes with ``torch.compile`` and CUDA graphs. PyTorch is optional: without it the
package still imports, and ``python -m triageattention`` runs a CPU reference demo.
"""

from . import _C
from .attention import block_sparse_attention, dense_attention, validate_pattern
from .decode import PagedKVCache, sparse_decode
from .flex import block_mask_from_pattern, causal_mask_mod, pattern_from_block_mask
from .gemm import bsr_matmul
from .triage import attention_mass_recall, reference_triage, sparse_attention, triage

__version__ = "0.1.0"

__all__ = [
    "PagedKVCache",
    "attention_mass_recall",
    "block_mask_from_pattern",
    "block_sparse_attention",
    "bsr_matmul",
    "causal_mask_mod",
    "dense_attention",
    "pattern_from_block_mask",
    "reference_triage",
    "sparse_attention",
    "sparse_decode",
    "triage",
    "validate_pattern",
    "__version__",
]
