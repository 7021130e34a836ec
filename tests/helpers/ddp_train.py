"""Two-process DDP or FSDP2 training of a compiled archlang network (CPU, gloo, loopback).

Run as a script: exits 0 when both replicas end with identical parameters.
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

SPEC = """
block ConvBN(out, stride=1) {
    conv: conv2d(out, 3, stride=stride, padding=1, bias=false)
    bn: batchnorm
    relu
}
network small(num_classes=10) {
    input x: [3, 16, 16]
    stem: ConvBN(8)
    block1: ConvBN(16, stride=2)
    training output aux = block1 -> head: [global_avgpool, flatten, dropout(0.5), linear(num_classes)]
    block2: ConvBN(32, stride=2)
    global_avgpool
    flatten
    dropout(0.2)
    fc: linear(num_classes)
    output logits
}
"""


def worker(rank: int, world: int, port: str, result_path: str, mode: str) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = port
    dist.init_process_group("gloo", rank=rank, world_size=world)
    import archlang

    torch.manual_seed(0)
    model = archlang.load(SPEC)
    names = [n for n, _ in model.named_parameters()]
    if mode == "fsdp":
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh("cpu", (world,))
        for child in (model.stem, model.block1, model.head, model.block2):
            fully_shard(child, mesh=mesh)
        fully_shard(model, mesh=mesh)
        ddp = model
        assert [n for n, _ in model.named_parameters()] == names  # FQNs unchanged
    else:
        ddp = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    torch.manual_seed(100 + rank)  # different data (and dropout masks) per rank
    for _ in range(4):
        x = torch.randn(8, 3, 16, 16)
        y = torch.randint(0, 10, (8,))
        out = ddp(x)
        loss = torch.nn.functional.cross_entropy(out.logits, y) + \
            0.3 * torch.nn.functional.cross_entropy(out.aux, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    params = [p.full_tensor() if hasattr(p, "full_tensor") else p for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    gathered = [torch.zeros_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    if rank == 0:
        same = all(torch.equal(gathered[0], g) for g in gathered[1:])
        moved = not torch.equal(flat, flat * 0)
        with open(result_path, "w") as f:
            f.write(f"{same} {moved} {flat.numel()}")
    # both ranks finish every collective before either tears gloo down: a rank destroying
    # its process group while the other's gloo threads still run aborted the process
    # ("terminate called without an active exception") now and then
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    port, result, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    mp.spawn(worker, args=(2, port, result, mode), nprocs=2, join=True)
