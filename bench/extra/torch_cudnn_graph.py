# Dumps the cuDNN graphs PyTorch builds for its fused attention (forward and backward,
# causal, bf16; and jagged/ragged sequences if torch routes them to cuDNN), through
# cuDNN's and cudnn-frontend's own logging (environment set by the caller). Used once to
# check hnet's own graph construction (runtime/backend/cuda/attention_cudnn.c) against a
# known-good one.
import torch, sys
from torch.nn.attention import sdpa_kernel, SDPBackend
F = torch.nn.functional
B, H, S, D = 2, 2, 256, 64
q, k, v = (torch.randn(B, S, H, D, device="cuda", dtype=torch.bfloat16).transpose(1, 2).requires_grad_() for _ in range(3))
with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
    o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    o.backward(torch.randn_like(o))
torch.cuda.synchronize()
print("dense ok", flush=True)
try:
    lens = [100, 37, 256]
    qs = [torch.randn(n, H, D, device="cuda", dtype=torch.bfloat16) for n in lens]
    nt = lambda: torch.nested.nested_tensor([x.clone() for x in qs], layout=torch.jagged, requires_grad=True).transpose(1, 2)
    qn, kn, vn = nt(), nt(), nt()
    with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
        on = F.scaled_dot_product_attention(qn, kn, vn, is_causal=True)
        on.values().sum().backward() if hasattr(on, "values") else None
    torch.cuda.synchronize()
    print("jagged ok", flush=True)
except Exception as e:
    print("jagged failed:", str(e)[:300])
