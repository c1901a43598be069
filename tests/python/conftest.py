"""Shared fixtures: per-test seeds, and skipping of GPU tests where PyTorch or Hopper is missing
or where a one-config build left out the kernel a test needs."""

import hashlib

import numpy as np
import pytest

try:
    import torch
except ImportError:
    torch = None


def gpu_skip_reason():
    """Why GPU tests cannot run here, or None."""
    if torch is None:
        return "PyTorch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA device is visible to PyTorch"
    major, minor = torch.cuda.get_device_capability()
    if (major, minor) != (9, 0):
        return f"kernels are built for sm_90a (Hopper); this device is sm_{major}{minor}"
    return None


def require_attention(dtype, head_dim, q_block_size):
    """Skips the calling test when this build has no attention kernel for the configuration."""
    from triageattention import _C

    name = str(dtype).replace("torch.", "")
    if not _C.attention_is_built(name, head_dim, q_block_size):
        pytest.skip(f"this build has no {name} attention kernel for head_dim {head_dim}, "
                    f"q_block_size {q_block_size} (configured with TRIAGEATTENTION_DTYPES/"
                    "HEAD_DIMS/Q_TILES)")


def pytest_collection_modifyitems(config, items):
    reason = gpu_skip_reason()
    if reason:
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=f"GPU test: {reason}"))


@pytest.fixture
def seed(request):
    """A seed fixed per test id: inputs differ between tests yet reproduce on a rerun."""
    return int.from_bytes(hashlib.sha256(request.node.nodeid.encode()).digest()[:4], "little")


@pytest.fixture
def rng(seed):
    return np.random.default_rng(seed)


@pytest.fixture
def gen(seed):
    """A CUDA torch.Generator seeded per test."""
    return torch.Generator(device="cuda").manual_seed(seed)


@pytest.fixture
def capture_graph():
    """Returns capture(step) -> (graph, step's outputs inside the graph), the package's
    measure.capture_graph (imported here: it needs torch)."""
    from triageattention.measure import capture_graph as capture

    return capture
