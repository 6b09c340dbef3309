"""Real model files for the registry and serving tests, made as a user would: PyTorch
(Debian's python3-torch) for TorchScript and ONNX, XGBoost's own C library for XGBoost
(Debian's python3-xgboost cannot be installed beside libboost1.81-dev, so the booster is
trained through libxgboost with ctypes)."""

from __future__ import annotations

import ctypes
import random
from pathlib import Path

import torch


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.fc(features), dim=-1)


def torchscript_mlp(path: Path) -> Path:
    torch.manual_seed(0)
    torch.jit.script(MLP().eval()).save(str(path))
    return path


def onnx_mlp(path: Path) -> Path:
    torch.manual_seed(0)
    torch.onnx.export(MLP().eval(), torch.zeros(1, 4), str(path), input_names=["features"],
                      output_names=["probs"], dynamic_axes={"features": {0: "batch"}})
    return path


def xgboost_model(path: Path, rounds: int = 5) -> Path:
    lib = ctypes.cdll.LoadLibrary("libxgboost.so.0")

    def check(rc):
        if rc != 0:
            lib.XGBGetLastError.restype = ctypes.c_char_p
            raise RuntimeError(lib.XGBGetLastError().decode())

    rng = random.Random(0)
    rows, cols = 64, 3
    data = [rng.random() for _ in range(rows * cols)]
    labels = [1.0 if data[i * cols] > 0.5 else 0.0 for i in range(rows)]
    dmat = ctypes.c_void_p()
    check(lib.XGDMatrixCreateFromMat((ctypes.c_float * len(data))(*data), ctypes.c_uint64(rows),
                                     ctypes.c_uint64(cols), ctypes.c_float(float("nan")),
                                     ctypes.byref(dmat)))
    check(lib.XGDMatrixSetFloatInfo(dmat, b"label", (ctypes.c_float * rows)(*labels),
                                    ctypes.c_uint64(rows)))
    booster = ctypes.c_void_p()
    check(lib.XGBoosterCreate(ctypes.byref(dmat), ctypes.c_uint64(1), ctypes.byref(booster)))
    check(lib.XGBoosterSetParam(booster, b"objective", b"binary:logistic"))
    for i in range(rounds):
        check(lib.XGBoosterUpdateOneIter(booster, ctypes.c_int(i), dmat))
    check(lib.XGBoosterSaveModel(booster, str(path).encode()))
    lib.XGBoosterFree(booster)
    lib.XGDMatrixFree(dmat)
    return path
