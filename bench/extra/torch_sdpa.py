# The PyTorch reference's attention rates on the device, same call as hnet's: cuDNN's fused
# attention and FlashAttention-2 through torch's SDPA, bf16, causal, counted the
# FlashAttention way (causal: half the square; backward 2.5x forward).
import torch, sys, os, glob
from torch.nn.attention import sdpa_kernel, SDPBackend
print("torch", torch.__version__, "cudnn", torch.backends.cudnn.version())
for p in glob.glob(os.path.dirname(torch.__file__) + "/../nvidia/cudnn/lib/libcudnn.so*") + glob.glob("/usr/local/cuda/lib64/libcudnn.so*"):
    print("lib", os.path.realpath(p))
F = torch.nn.functional
def bench(fn, reps=10, warm=3):
    for _ in range(warm): fn()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(True), torch.cuda.Event(True)
    ts = []
    for _ in range(reps):
        a.record(); fn(); b.record(); torch.cuda.synchronize(); ts.append(a.elapsed_time(b))
    ts.sort(); return ts[len(ts) // 2]
for (B, H, S, D) in [(8, 12, 8192, 64), (8, 16, 1366, 64), (8, 12, 8192, 128)]:
    q, k, v = (torch.randn(B, S, H, D, device="cuda", dtype=torch.bfloat16).transpose(1, 2).requires_grad_() for _ in range(3))
    flops = 4 * B * H * S * S * D / 2
    for name, be in [("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash2", SDPBackend.FLASH_ATTENTION)]:
        try:
            with sdpa_kernel(be):
                o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                do = torch.randn_like(o)
                tf = bench(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
                def fb():
                    o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                    torch.autograd.grad(o, (q, k, v), do)
                tfb = bench(fb)
            tb = tfb - tf
            print(f"{name} B{B} H{H} S{S} D{D}: fwd {tf:.3f} ms {flops/tf/1e9:.1f} TFLOP/s, bwd {tb:.3f} ms {2.5*flops/tb/1e9:.1f} TFLOP/s")
        except Exception as e:
            print(name, "failed:", str(e)[:200])
