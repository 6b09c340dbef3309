"""Writes a TorchScript model of about SIZE_MB megabytes (one float32 parameter):
    make_big_model.py OUT SIZE_MB [SEED]"""
import sys

import torch


class Big(torch.nn.Module):
    def __init__(self, floats: int):
        super().__init__()
        self.w = torch.nn.Parameter(torch.rand(floats))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.w[0]


torch.manual_seed(int(sys.argv[3]) if len(sys.argv) > 3 else 0)
torch.jit.script(Big(int(sys.argv[2]) * 262144)).save(sys.argv[1])
