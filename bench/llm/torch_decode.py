#!/usr/bin/env python3
"""PyTorch baseline of encore-llm's decode step, timed eager and as a torch.cuda.graph replay.

The same model shapes as encore-llm's named shapes (bf16 weights, batch 1, greedy), written the
way a PyTorch inference loop usually is: bf16 activations, norms computed in fp32, F.linear
(cuBLAS) for every projection, F.scaled_dot_product_attention over a static KV cache with a mask
(a CUDA graph needs static shapes, so both variants attend over max_ctx = ctx + tokens rows and
mask the ones past the position). The next token is chosen on the device (argmax written into
the token the next step embeds, position advanced in place), as encore-llm does, so neither
variant waits for the host inside the loop.

Timing: `--ctx` positions are treated as already in the cache (the step at position p attends
over p + 1 rows); `--tokens` decode steps are timed after `--warmup` steps, per step with CUDA
events; the median and mean are reported. Prints a summary and writes --json.

    python3 bench/llm/torch_decode.py --shape llama-3.2-1b --ctx 512 --tokens 128 --json out.json
"""

import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

SHAPES = {
    "tiny": dict(hidden=256, inter=512, layers=2, heads=4, kv_heads=2, head_dim=64, vocab=1024,
                 eps=1e-5, theta=10000.0, bias=False, llama3=None),
    "tiny-qwen2": dict(hidden=256, inter=512, layers=2, heads=4, kv_heads=2, head_dim=64,
                       vocab=1024, eps=1e-5, theta=10000.0, bias=True, llama3=None),
    "llama-3.2-1b": dict(hidden=2048, inter=8192, layers=16, heads=32, kv_heads=8, head_dim=64,
                         vocab=128256, eps=1e-5, theta=500000.0, bias=False,
                         llama3=dict(factor=32.0, low=1.0, high=4.0, original=8192)),
    "qwen2.5-0.5b": dict(hidden=896, inter=4864, layers=24, heads=14, kv_heads=2, head_dim=64,
                         vocab=151936, eps=1e-6, theta=1000000.0, bias=True, llama3=None),
}


def inverse_frequencies(s):
    d = s["head_dim"]
    inv = [s["theta"] ** (-2.0 * i / d) for i in range(d // 2)]
    if s["llama3"]:
        r = s["llama3"]
        low_wavelen, high_wavelen = r["original"] / r["low"], r["original"] / r["high"]
        for i, f in enumerate(inv):
            wavelen = 2 * math.pi / f
            if wavelen > low_wavelen:
                inv[i] = f / r["factor"]
            elif wavelen >= high_wavelen:
                smooth = (r["original"] / wavelen - r["low"]) / (r["high"] - r["low"])
                inv[i] = (1 - smooth) * f / r["factor"] + smooth * f
    return torch.tensor(inv, dtype=torch.float32)


class Decoder:
    """Random bf16 weights of a shape, a static bf16 KV cache, and one greedy decode step."""

    def __init__(self, s, max_ctx, device, seed):
        self.s, self.max_ctx = s, max_ctx
        gen = torch.Generator(device=device).manual_seed(seed)
        h, d = s["hidden"], s["head_dim"]
        self.q_dim, self.kv_dim = s["heads"] * d, s["kv_heads"] * d
        bf16 = torch.bfloat16

        def matrix(rows, cols, std):
            return torch.randn(rows, cols, device=device, dtype=bf16, generator=gen) * std

        def vector(n, center, spread):
            return center + spread * torch.randn(n, device=device, dtype=torch.float32,
                                                 generator=gen)

        self.embed = matrix(s["vocab"], h, 3.0 / math.sqrt(h))  # tied lm_head
        self.final_norm = vector(h, 1.0, 0.1)
        self.layers = []
        for _ in range(s["layers"]):
            rows = self.q_dim + 2 * self.kv_dim
            self.layers.append(dict(
                attn_norm=vector(h, 1.0, 0.1),
                qkv=matrix(rows, h, 1 / math.sqrt(h)),
                qkv_bias=(0.5 * torch.randn(rows, device=device, generator=gen)).to(bf16)
                if s["bias"] else None,
                o=matrix(h, self.q_dim, 1 / math.sqrt(self.q_dim)),
                mlp_norm=vector(h, 1.0, 0.1),
                gate_up=matrix(2 * s["inter"], h, 1 / math.sqrt(h)),
                down=matrix(h, s["inter"], 1 / math.sqrt(s["inter"]))))
        shape = (s["layers"], s["kv_heads"], max_ctx, d)
        self.k_cache = torch.zeros(shape, device=device, dtype=bf16)
        self.v_cache = torch.zeros(shape, device=device, dtype=bf16)
        self.inv_freq = inverse_frequencies(s).to(device)
        self.positions = torch.arange(max_ctx, device=device)
        self.token = torch.zeros(1, dtype=torch.long, device=device)
        self.pos = torch.zeros(1, dtype=torch.long, device=device)
        self.history = torch.zeros(max_ctx + 1, dtype=torch.long, device=device)
        try:  # grouped-query attention without materialising repeated K/V (torch >= 2.5)
            q = torch.zeros(1, 2, 1, 8, device=device)
            F.scaled_dot_product_attention(q, q[:, :1], q[:, :1], enable_gqa=True)
            self.gqa = True
        except TypeError:
            self.gqa = False

    def rms_norm(self, x, weight):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.s["eps"])
        return (xf * weight).to(torch.bfloat16)

    def rope(self, x, cos, sin):  # x [heads, d], rotate_half convention (Hugging Face)
        half = x.shape[-1] // 2
        x1, x2 = x[..., :half].float(), x[..., half:].float()
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).to(torch.bfloat16)

    def step(self):
        s, d = self.s, self.s["head_dim"]
        pos = self.pos
        angles = pos.float()[:, None] * self.inv_freq[None, :]  # [1, d/2]
        cos, sin = torch.cos(angles), torch.sin(angles)
        mask = (self.positions <= pos).view(1, 1, 1, self.max_ctx)
        x = self.embed[self.token]  # [1, hidden]
        for index, w in enumerate(self.layers):
            h = self.rms_norm(x, w["attn_norm"])
            qkv = F.linear(h, w["qkv"], w["qkv_bias"])[0]
            q = self.rope(qkv[:self.q_dim].view(s["heads"], d), cos, sin)
            k = self.rope(qkv[self.q_dim:self.q_dim + self.kv_dim].view(s["kv_heads"], d), cos,
                          sin)
            v = qkv[self.q_dim + self.kv_dim:].view(s["kv_heads"], d)
            self.k_cache[index].index_copy_(1, pos, k.unsqueeze(1))
            self.v_cache[index].index_copy_(1, pos, v.unsqueeze(1))
            keys, values = self.k_cache[index].unsqueeze(0), self.v_cache[index].unsqueeze(0)
            if self.gqa:
                attn = F.scaled_dot_product_attention(q.view(1, s["heads"], 1, d), keys, values,
                                                      attn_mask=mask, enable_gqa=True)
            else:
                group = s["heads"] // s["kv_heads"]
                attn = F.scaled_dot_product_attention(
                    q.view(1, s["heads"], 1, d), keys.repeat_interleave(group, dim=1),
                    values.repeat_interleave(group, dim=1), attn_mask=mask)
            x = x + F.linear(attn.reshape(1, self.q_dim), w["o"])
            h = self.rms_norm(x, w["mlp_norm"])
            gate, up = F.linear(h, w["gate_up"]).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate) * up, w["down"])
        logits = F.linear(self.rms_norm(x, self.final_norm), self.embed)
        self.token.copy_(torch.argmax(logits, dim=-1))
        self.pos.add_(1)
        self.history.index_copy_(0, self.pos, self.token)

    def reset(self, ctx, token):
        self.pos.fill_(ctx)
        self.token.fill_(token)


def time_steps(run, steps, warmup, cuda=True):
    """Median and mean ms per step (CUDA events around each step) after `warmup` steps."""
    for _ in range(warmup):
        run()
    if not cuda:  # CPU smoke runs: host wall time per step
        ms = []
        for _ in range(steps):
            start = time.perf_counter()
            run()
            ms.append((time.perf_counter() - start) * 1e3)
        return statistics.median(ms), statistics.mean(ms)
    events = [torch.cuda.Event(enable_timing=True) for _ in range(steps + 1)]
    events[0].record()
    for i in range(steps):
        run()
        events[i + 1].record()
    torch.cuda.synchronize()
    ms = [events[i].elapsed_time(events[i + 1]) for i in range(steps)]
    return statistics.median(ms), statistics.mean(ms)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="llama-3.2-1b", choices=sorted(SHAPES))
    parser.add_argument("--ctx", type=int, default=512, help="positions already in the cache")
    parser.add_argument("--tokens", type=int, default=128, help="timed decode steps")
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the numbers here")
    parser.add_argument("--device", default="cuda",
                        help="cuda; or cpu for a smoke run of the eager step (no graph)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("torch_decode: no CUDA device")
    torch.backends.cuda.matmul.allow_tf32 = False
    device = torch.device(args.device)
    on_cuda = device.type == "cuda"
    s = SHAPES[args.shape]
    steps = args.warmup + args.tokens
    max_ctx = args.ctx + 2 * steps + 4  # eager, graph warm-up and graph runs each advance pos
    model = Decoder(s, max_ctx, device, args.seed)

    with torch.inference_mode():
        model.reset(args.ctx, 1)
        eager_median, eager_mean = time_steps(model.step, args.tokens, args.warmup, on_cuda)
        eager_tokens = model.history[args.ctx + 1:args.ctx + 1 + steps].clone()
        if not on_cuda:
            print(f"torch {torch.__version__} on cpu: {args.shape} eager {eager_median:.3f} "
                  f"ms/step median (smoke run; no CUDA graph)")
            return

        # Capture: warm up on a side stream first (cuBLAS workspaces, lazy init), as
        # torch.cuda.graph's documentation asks.
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                model.step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            model.step()
        model.reset(args.ctx, 1)
        graph_median, graph_mean = time_steps(graph.replay, args.tokens, args.warmup)
        graph_tokens = model.history[args.ctx + 1:args.ctx + 1 + steps].clone()

    result = dict(
        shape=args.shape, device=torch.cuda.get_device_name(), torch=torch.__version__,
        cuda=torch.version.cuda, ctx=args.ctx, tokens=args.tokens, warmup=args.warmup,
        max_ctx=max_ctx, gqa_kernel=model.gqa,
        eager_ms_per_step_median=eager_median, eager_ms_per_step_mean=eager_mean,
        graph_ms_per_step_median=graph_median, graph_ms_per_step_mean=graph_mean,
        eager_tokens_per_second=1000.0 / eager_mean, graph_tokens_per_second=1000.0 / graph_mean,
        eager_and_graph_tokens_match=bool(torch.equal(eager_tokens, graph_tokens)))
    print(f"torch {result['torch']} on {result['device']}: {args.shape}, ctx {args.ctx}, "
          f"{args.tokens} steps")
    print(f"  eager       {eager_median:.4f} ms/step median, {eager_mean:.4f} mean")
    print(f"  cuda graph  {graph_median:.4f} ms/step median, {graph_mean:.4f} mean")
    print(f"  eager and graph decode the same tokens: {result['eager_and_graph_tokens_match']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
