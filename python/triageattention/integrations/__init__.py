"""Integrations of TriageAttention with model libraries.

``triageattention.integrations.transformers`` registers TriageAttention as a Hugging Face
transformers attention implementation (``attn_implementation="triage"``). Each integration imports
its library only when used, so ``import triageattention`` never needs it.
"""
