# PyTorch's softmax on the vocabulary-wide shapes, GPU time per call:
# 100 calls captured in one CUDA graph (host launch cost out), over rotated
# inputs, replayed 20 times, mean per call. Prints one line per shape.
import torch

shapes = [(1, 128256), (1, 151936), (4, 131072), (16, 128256), (16, 151936), (16, 262144), (64, 65537), (133, 65537)]
for dtype in (torch.float16, torch.float32):
    for rows, cols in shapes:
        xs = [torch.randn(rows, cols, device="cuda", dtype=dtype) for _ in range(8)]
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for i in range(3):
                torch.softmax(xs[i % 8], dim=-1)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for i in range(100):
                torch.softmax(xs[i % 8], dim=-1)
        g.replay()
        torch.cuda.synchronize()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(20):
            g.replay()
        b.record()
        b.synchronize()
        us = a.elapsed_time(b) * 1000 / 2000
        print(f"torch softmax {str(dtype).split('.')[-1]} {rows}x{cols}: {us:.2f} us", flush=True)
