"""triageattention.integrations.transformers: TriageAttention inside Hugging Face models.

CPU tests: TriageConfig validation (no torch needed), then, where torch and transformers are
installed (skipped with the reason otherwise), registration, switching a model back and forth and
the errors for unsupported models. GPU tests (marked `gpu`) run a tiny 2-layer Llama in bf16: with
topk covering every block its logits match SDPA's within bf16 error (measured against an fp32
run) and greedy tokens are identical, for prefill, padded batches and both decode modes.
"""

import pytest

from triageattention.integrations.transformers import (
    DECODE_MODES,
    NAME,
    TriageConfig,
    disable_triage,
    enable_triage,
    is_registered,
    register,
    triage_stats,
)

gpu = pytest.mark.gpu


# ---------------------------------------------------------------------------------------------
# CPU: configuration
# ---------------------------------------------------------------------------------------------


def test_config_defaults_and_threshold():
    c = TriageConfig()
    assert (c.block_size, c.topk, c.q_block_size, c.decode) == (64, 256, 128, "dense")
    assert c.sparse_threshold == 2 * 256 * 64  # auto: twice the keys kept
    assert TriageConfig(min_sparse_seqlen=0).sparse_threshold == 0
    assert TriageConfig(block_size=16, topk=8, min_sparse_seqlen=1000).sparse_threshold == 1000
    assert set(DECODE_MODES) == {"dense", "sparse"}


@pytest.mark.parametrize("kwargs, error, words", [
    ({"block_size": 48}, ValueError, "block_size must be one of"),
    ({"q_block_size": 32}, ValueError, "q_block_size must be one of"),
    ({"topk": 0}, ValueError, "topk must be >= 1"),
    ({"topk": 2.5}, TypeError, "topk must be an int"),
    ({"topk": True}, TypeError, "topk must be an int"),
    ({"sink_blocks": -1}, ValueError, "sink_blocks must be >= 0"),
    ({"min_sparse_seqlen": -5}, ValueError, "min_sparse_seqlen must be >= 0"),
    ({"decode": "paged"}, ValueError, "decode must be one of"),
    ({"share_gqa": 1}, TypeError, "share_gqa must be a bool"),
])
def test_config_rejects_bad_values_with_a_clear_error(kwargs, error, words):
    with pytest.raises(error, match=words):
        TriageConfig(**kwargs)


def test_config_is_immutable():
    c = TriageConfig()
    with pytest.raises(Exception):
        c.topk = 3


# ---------------------------------------------------------------------------------------------
# CPU with torch + transformers: registration and switching
# ---------------------------------------------------------------------------------------------


def _hf():
    pytest.importorskip("torch", reason="PyTorch is not installed")
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    if not hasattr(transformers.modeling_utils, "AttentionInterface"):
        pytest.skip(f"transformers {transformers.__version__} has no AttentionInterface (< 4.51)")
    return transformers


def _tiny_llama(head_dim=64, heads=4, kv_heads=2, layers=2, vocab=1024, **extra):
    transformers = _hf()
    config = transformers.LlamaConfig(
        hidden_size=heads * head_dim, intermediate_size=2 * heads * head_dim,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
        vocab_size=vocab, max_position_embeddings=4096, attn_implementation="sdpa", **extra)
    return transformers.LlamaForCausalLM(config).eval()


def test_register_adds_attention_and_mask_functions():
    _hf()
    from transformers.modeling_utils import AttentionInterface
    assert register() == NAME
    assert is_registered()
    assert NAME in AttentionInterface._global_mapping
    try:
        from transformers.masking_utils import AttentionMaskInterface
    except ImportError:
        return  # transformers < 4.53 has no per-implementation masks
    assert NAME in AttentionMaskInterface._global_mapping  # else padding masks would be dropped


def test_enable_then_disable_swaps_the_implementation_back_and_forth():
    model = _tiny_llama()
    assert model.config._attn_implementation == "sdpa"
    config = TriageConfig(block_size=32, topk=8)
    assert enable_triage(model, config) is model
    assert model.config._attn_implementation == NAME
    attn = model.model.layers[0].self_attn
    assert attn._triage_config is config
    other = TriageConfig(topk=4)
    enable_triage(model, other)  # a second call replaces the config, keeps the original impl
    assert attn._triage_config is other
    assert triage_stats(model) == {}
    disable_triage(model)
    assert model.config._attn_implementation == "sdpa"
    assert not hasattr(attn, "_triage_config") and triage_stats(model) == {}
    enable_triage(model)
    assert model.config._attn_implementation == NAME
    assert attn._triage_config == TriageConfig()
    disable_triage(model)
    assert model.config._attn_implementation == "sdpa"


def test_enable_restores_eager_when_it_was_eager():
    model = _tiny_llama()
    model.config._attn_implementation = "eager"
    enable_triage(model)
    disable_triage(model)
    assert model.config._attn_implementation == "eager"


def test_unsupported_head_dim_is_a_clear_error_and_changes_nothing():
    model = _tiny_llama(head_dim=96, heads=2, kv_heads=1)
    with pytest.raises(ValueError, match=r"head_dim 96"):
        enable_triage(model)
    assert model.config._attn_implementation == "sdpa"


def test_enable_rejects_a_config_of_the_wrong_type():
    model = _tiny_llama()
    with pytest.raises(TypeError, match="TriageConfig"):
        enable_triage(model, {"topk": 4})


def test_forward_on_cpu_says_it_needs_cuda():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    model = _tiny_llama().to(torch.bfloat16)
    enable_triage(model, TriageConfig(min_sparse_seqlen=0))
    with torch.inference_mode(), pytest.raises(ValueError, match="CUDA"):
        model(torch.randint(0, 1024, (1, 16)))


# ---------------------------------------------------------------------------------------------
# GPU: a tiny Llama, TriageAttention against SDPA
# ---------------------------------------------------------------------------------------------

FULL = dict(block_size=64, topk=1 << 16, min_sparse_seqlen=0)  # topk covers every block


def _gpu_model(head_dim, seed, dtype=None):
    import torch
    torch.manual_seed(seed)
    model = _tiny_llama(head_dim=head_dim)
    model.generation_config.eos_token_id = None  # generate exactly max_new_tokens
    model.generation_config.pad_token_id = 0
    return model.to("cuda", dtype or torch.bfloat16)


def _logits(model, ids, mask=None):
    import torch
    with torch.inference_mode():
        return model(input_ids=ids, attention_mask=mask).logits.float()


@gpu
@pytest.mark.parametrize("head_dim", [64, 128])
def test_full_topk_logits_match_sdpa_within_bf16_error(head_dim, seed):
    import torch
    model = _gpu_model(head_dim, seed)
    ids = torch.randint(1, 1024, (2, 1000), device="cuda")  # odd length: short last blocks
    reference = _logits(_gpu_model(head_dim, seed, torch.float32), ids)
    sdpa = _logits(model, ids)
    enable_triage(model, TriageConfig(**FULL))
    ours = _logits(model, ids)
    stats = triage_stats(model)
    assert stats.get("sparse", 0) == 2 and not any(k.startswith("fallback") for k in stats)
    err_sdpa = (sdpa - reference).abs().max().item()
    err_ours = (ours - reference).abs().max().item()
    assert err_ours <= 2 * err_sdpa + 1e-2, (err_ours, err_sdpa)
    agree = (ours.argmax(-1) == sdpa.argmax(-1)).float().mean().item()
    assert agree >= 0.99, agree


@gpu
def test_left_padded_batch_matches_sdpa_on_real_tokens(seed):
    import torch
    model = _gpu_model(128, seed)
    ids = torch.randint(1, 1024, (3, 700), device="cuda")
    mask = torch.ones_like(ids)
    mask[1, :45] = 0
    mask[2, :300] = 0
    sdpa = _logits(model, ids, mask)
    enable_triage(model, TriageConfig(**FULL))
    ours = _logits(model, ids, mask)
    real = mask.bool()
    assert torch.isfinite(ours[real]).all()
    assert (ours[real] - sdpa[real]).abs().max().item() < 0.1
    assert not any(k.startswith("fallback") for k in triage_stats(model))


@gpu
@pytest.mark.parametrize("decode", ["dense", "sparse"])
def test_greedy_tokens_are_identical_at_full_topk(decode, seed):
    import torch
    model = _gpu_model(128, seed)
    ids = torch.randint(1, 1024, (2, 600), device="cuda")
    mask = torch.ones_like(ids)
    mask[0, :37] = 0  # left padding, as generate() uses
    with torch.inference_mode():
        expected = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=24,
                                  do_sample=False)
        enable_triage(model, TriageConfig(decode=decode, **FULL))
        got = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=24,
                             do_sample=False)
    assert torch.equal(got, expected)
    stats = triage_stats(model)
    assert stats.get("sparse", 0) > 0
    assert stats.get("decode_sparse" if decode == "sparse" else "decode_sdpa", 0) > 0


@gpu
def test_swapping_back_and_forth_reproduces_each_implementation(seed):
    import torch
    model = _gpu_model(64, seed)
    ids = torch.randint(1, 1024, (1, 513), device="cuda")
    sdpa = _logits(model, ids)
    enable_triage(model, TriageConfig(**FULL))
    ours = _logits(model, ids)
    disable_triage(model)
    assert torch.equal(_logits(model, ids), sdpa)
    enable_triage(model, TriageConfig(**FULL))
    assert torch.equal(_logits(model, ids), ours)  # the kernels are deterministic


@gpu
def test_sparse_settings_run_and_stay_finite(seed):
    import torch
    model = _gpu_model(128, seed)
    ids = torch.randint(1, 1024, (1, 2048), device="cuda")
    enable_triage(model, TriageConfig(block_size=32, topk=8, min_sparse_seqlen=0,
                                      decode="sparse"))
    with torch.inference_mode():
        out = model.generate(input_ids=ids, max_new_tokens=4, do_sample=False)
    assert out.shape == (1, 2052)
    assert torch.isfinite(_logits(model, ids)).all()


@gpu
def test_unsupported_head_dim_on_gpu_names_it(seed):
    import torch
    torch.manual_seed(seed)
    model = _tiny_llama(head_dim=96, heads=2, kv_heads=1).to("cuda", torch.bfloat16)
    with pytest.raises(ValueError, match=r"head_dim 96"):
        enable_triage(model)
    register()  # selected by name instead: the first forward says why it cannot run
    model.config._attn_implementation = NAME
    with pytest.raises(ValueError, match=r"head_dim 96"):
        _logits(model, torch.randint(0, 1024, (1, 64), device="cuda"))
