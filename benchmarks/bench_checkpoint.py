"""checkpoint_degrees on a synthetic Llama-7B-shaped sharded fp16 checkpoint, against a raw read.

Writes, under a temporary folder (``--dir``, default /tmp), a sharded safetensors checkpoint in
the layout ``transformers`` writes (``model-0000i-of-0000n.safetensors`` plus
``model.safetensors.index.json``) with the tensor shapes of Llama-7B (hidden 4096, MLP 11008,
vocabulary 32000; ``--layers`` of its 32 blocks, 20 by default: 8.6 GB) in fp16, half of every
weight matrix zero (values tiled from a 64 MiB random pool at random offsets: the numbers do not
matter here, the bytes do).  Then, in the same run, for a cold page cache (each file's pages
dropped with ``posix_fadvise(DONTNEED)`` first) and a warm one:

* raw: reading every shard with ``readinto`` in 64 MiB blocks (the physical limit);
* ``checkpoint_degrees`` in a fresh process (its peak RSS: ``VmHWM``, torch's import included).

Prints GB/s, the ratio degrees/raw (target >= 0.5) and the peak RSS (target <= 2 GB), with the
load average.  The checkpoint is deleted at the end (``--keep`` to keep it).

    PYTHONPATH=. python benchmarks/bench_checkpoint.py [--layers 20] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HIDDEN, MLP, VOCAB = 4096, 11008, 32000
SHARD_BYTES = 2 << 30


def llama_shapes(layers: int) -> list[tuple[str, tuple[int, ...]]]:
    shapes = [("model.embed_tokens.weight", (VOCAB, HIDDEN))]
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes += [(p + f"self_attn.{n}_proj.weight", (HIDDEN, HIDDEN)) for n in "qkvo"]
        shapes += [(p + "mlp.gate_proj.weight", (MLP, HIDDEN)), (p + "mlp.up_proj.weight", (MLP, HIDDEN)),
                   (p + "mlp.down_proj.weight", (HIDDEN, MLP)),
                   (p + "input_layernorm.weight", (HIDDEN,)), (p + "post_attention_layernorm.weight", (HIDDEN,))]
    return shapes + [("model.norm.weight", (HIDDEN,)), ("lm_head.weight", (VOCAB, HIDDEN))]


def write_checkpoint(folder: Path, layers: int, seed: int = 0) -> tuple[Path, list[Path]]:
    import torch
    from safetensors.torch import save_file

    rng = np.random.default_rng(seed)
    pool = rng.standard_normal(32 << 20).astype(np.float16)
    pool[rng.random(pool.size) < 0.5] = 0
    shapes = llama_shapes(layers)
    shards, current, size = [], {}, 0
    for name, shape in shapes:
        n = int(np.prod(shape))
        if len(shape) == 1:
            values = np.ones(n, np.float16)
        else:
            values = np.empty(n, np.float16)
            for s in range(0, n, pool.size // 2):  # pieces of the pool from random offsets
                k = min(pool.size // 2, n - s)
                o = int(rng.integers(0, pool.size - k))
                values[s: s + k] = pool[o: o + k]
        if current and size + 2 * n > SHARD_BYTES:
            shards.append(current)
            current, size = {}, 0
        current[name] = torch.from_numpy(values.reshape(shape))
        size += 2 * n
    shards.append(current)
    weight_map, files = {}, []
    for i, shard in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, folder / file, metadata={"format": "pt"})
        weight_map.update({k: file for k in shard})
        files.append(folder / file)
    shards.clear()
    index = folder / "model.safetensors.index.json"
    total = sum(2 * int(np.prod(s)) for _, s in shapes)
    index.write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))},
                                indent=2, sort_keys=True))
    return index, files


def drop_cache(files: list[Path]) -> None:
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)


def raw_read(files: list[Path]) -> float:
    buf = bytearray(64 << 20)
    t = time.perf_counter()
    for f in files:
        with open(f, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass
    return time.perf_counter() - t


CHILD = """
import sys, time, json
import numpy, torch, safetensors.torch, tqdm.auto  # imports outside the timing
from nn2graph import checkpoint_degrees
t = time.perf_counter()
r = checkpoint_degrees(sys.argv[1])
dt = time.perf_counter() - t
hwm = [int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
print(json.dumps({"seconds": dt, "rss": hwm,
                  "layers": len(r), "patterns": sorted({e.pattern.kind for e in r}),
                  "density": float(sum(e.nonzero for e in r) / sum(e.in_degree.size * e.out_degree.size for e in r))}))
"""


def degrees_run(index: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, "-c", CHILD, str(index)], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=20)
    parser.add_argument("--dir", default="/tmp")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-ckpt-", dir=args.dir))
    try:
        t = time.perf_counter()
        index, files = write_checkpoint(folder, args.layers)
        size = sum(f.stat().st_size for f in files)
        print(f"wrote {len(files)} shards, {size / 1e9:.2f} GB, Llama-7B shapes with {args.layers} blocks, "
              f"in {time.perf_counter() - t:.0f} s (load {open('/proc/loadavg').read().split()[:3]})")
        for label in ("cold", "warm"):
            if label == "cold":
                drop_cache(files)
            raw = raw_read(files)
            load_raw = open("/proc/loadavg").read().split()[:3]
            if label == "cold":
                drop_cache(files)
            res = degrees_run(index)
            load = open("/proc/loadavg").read().split()[:3]
            print(f"{label}: raw read {size / raw / 1e9:.3f} GB/s ({raw:.1f} s, load {load_raw}); "
                  f"checkpoint_degrees {size / res['seconds'] / 1e9:.3f} GB/s ({res['seconds']:.1f} s, load {load}); "
                  f"ratio {raw / res['seconds']:.2f} (target >= 0.5); peak RSS {res['rss'] / 2**30:.2f} GiB "
                  f"(target <= 2 GB); {res['layers']} matrices, patterns {res['patterns']}, "
                  f"density {res['density']:.3f}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
