"""Worker for tests/test_distributed.py, started by torchrun (gloo on CPU).

Each rank joins the group, all-reduces ``rank + 1``, takes its shard of a 10-item work list and gathers
everyone's shard; rank 0 prints one JSON line ``RESULT {...}`` that the test parses.
"""

from __future__ import annotations

import json

import torch
from kan_core import runtime


def main() -> None:
    env = runtime.init_distributed("cpu")
    assert torch.distributed.is_initialized(), "init_distributed did not join the group under torchrun"
    assert torch.distributed.get_backend() == "gloo"
    value = torch.tensor([float(env.rank + 1)])
    torch.distributed.all_reduce(value)
    items = list(range(10))
    mine = runtime.shard(items)
    shards = runtime.all_gather_object({"rank": env.rank, "shard": mine})
    runtime.barrier()
    if runtime.is_main_process():
        result = {
            "world_size": env.world_size,
            "is_distributed": env.is_distributed,
            "all_reduce": value.item(),
            "shards": shards,
        }
        print("RESULT " + json.dumps(result), flush=True)
    runtime.destroy_distributed()


if __name__ == "__main__":
    main()
