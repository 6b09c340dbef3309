"""Real model files for the registry and serving tests, made as a user would: PyTorch
(Debian's python3-torch) for TorchScript and ONNX, XGBoost's own C library for XGBoost
(Debian's python3-xgboost cannot be installed beside libboost1.81-dev, so the booster is
trained through libxgboost with ctypes)."""

from __future__ import annotations

import ctypes
import random
from pathlib import Path
from typing import Dict

import numpy
import torch


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.fc(features), dim=-1)


def torchscript_mlp(path: Path, seed: int = 0) -> Path:
    """features FP32 [-1, 4] -> probs FP32 [-1, 3]; another seed gives other weights."""
    torch.manual_seed(seed)
    torch.jit.script(MLP().eval()).save(str(path))
    return path


def onnx_mlp(path: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
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


# --------------------------------------------------------------------------------------------
# Serving test models. Each one is built from torch.manual_seed(seed), so the same seed gives
# the same weights in every format; the references below are what PyTorch / XGBoost answer.


class CNN(torch.nn.Module):
    """Fashion-MNIST sized: x FP32 [-1, 1, 28, 28] -> logits FP32 [-1, 10]."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, 3)
        self.pool = torch.nn.MaxPool2d(2)
        self.fc = torch.nn.Linear(8 * 13 * 13, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv(x)))
        return self.fc(torch.flatten(x, 1))


def _cnn(seed: int) -> CNN:
    torch.manual_seed(seed)
    return CNN().eval()


def torchscript_cnn(path: Path, seed: int = 0) -> Path:
    """The CNN as TorchScript (scripted: forward's argument is named `x`)."""
    torch.jit.script(_cnn(seed)).save(str(path))
    return path


def onnx_cnn(path: Path, seed: int = 0, opset: int = 13) -> Path:
    """The same CNN (same seed, same weights) as ONNX: input `x`, output `logits`, both with a
    dynamic batch dimension."""
    torch.onnx.export(_cnn(seed), torch.zeros(1, 1, 28, 28), str(path), input_names=["x"],
                      output_names=["logits"], opset_version=opset,
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
    return path


class FailingMLP(MLP):
    """The MLP (same weights for the same seed), but forward raises when the batch's sum is
    above `threshold`: a runtime exception on demand. Inputs a server would warm up with
    (zeros, ones, small random numbers) stay below it."""

    def __init__(self, threshold: float):
        super().__init__()
        self.threshold = threshold

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if bool(features.sum() > self.threshold):
            raise Exception("poisoned input: the sum is above the threshold")
        return torch.softmax(self.fc(features), dim=-1)


def failing_torchscript(path: Path, seed: int = 0, threshold: float = 100.0) -> Path:
    """TorchScript MLP that raises for inputs whose sum exceeds `threshold` and otherwise
    answers exactly like torchscript_mlp(path, seed)."""
    torch.manual_seed(seed)
    torch.jit.script(FailingMLP(threshold).eval()).save(str(path))
    return path


class SlowIdentity(torch.nn.Module):
    """features FP32 [-1, 4] -> doubled FP32 [-1, 4] (= 2 * features), after `rounds` matrix
    products of `size`×`size` that make each call take a while (tens of ms on one thread)."""

    def __init__(self, size: int, rounds: int):
        super().__init__()
        self.register_buffer("w", torch.randn(size, size) / size ** 0.5)
        self.rounds = rounds

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # The loop starts from the input (adding exactly 0): a loop over constants alone would be
        # computed once, when the server freezes the module at load.
        acc = self.w + 0.0 * features.sum()
        for _ in range(self.rounds):
            acc = torch.tanh(torch.mm(acc, self.w))
        # tanh keeps acc in [-1, 1], so this adds exactly 0 but depends on the loop.
        return features * 2.0 + 0.0 * acc.mean()


def slow_torchscript(path: Path, size: int = 384, rounds: int = 4) -> Path:
    torch.manual_seed(0)
    torch.jit.script(SlowIdentity(size, rounds).eval()).save(str(path))
    return path


def torch_reference(path: Path, x) -> numpy.ndarray:
    """What PyTorch answers: the TorchScript file at `path` run on `x` (array-like, FP32).
    For an ONNX model made here, pass the TorchScript file of the same class and seed."""
    module = torch.jit.load(str(path))
    module.eval()
    with torch.no_grad():
        out = module(torch.from_numpy(numpy.ascontiguousarray(x, dtype=numpy.float32)))
    return out.numpy()


def xgboost_reference(path: Path, rows) -> numpy.ndarray:
    """What XGBoost answers for `rows` (array-like [n, features], FP32): the model at `path`
    loaded through libxgboost and XGBoosterPredict (normal prediction: probabilities for
    binary:logistic), one value per row."""
    lib = ctypes.cdll.LoadLibrary("libxgboost.so.0")

    def check(rc):
        if rc != 0:
            lib.XGBGetLastError.restype = ctypes.c_char_p
            raise RuntimeError(lib.XGBGetLastError().decode())

    data = numpy.ascontiguousarray(rows, dtype=numpy.float32)
    n, cols = data.shape
    booster = ctypes.c_void_p()
    check(lib.XGBoosterCreate(None, ctypes.c_uint64(0), ctypes.byref(booster)))
    dmat = ctypes.c_void_p()
    try:
        check(lib.XGBoosterLoadModel(booster, str(path).encode()))
        check(lib.XGDMatrixCreateFromMat(data.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                         ctypes.c_uint64(n), ctypes.c_uint64(cols),
                                         ctypes.c_float(float("nan")), ctypes.byref(dmat)))
        out_len = ctypes.c_uint64()
        out = ctypes.POINTER(ctypes.c_float)()
        check(lib.XGBoosterPredict(booster, dmat, ctypes.c_int(0), ctypes.c_uint(0),
                                   ctypes.c_int(0), ctypes.byref(out_len), ctypes.byref(out)))
        return numpy.array(out[: out_len.value], dtype=numpy.float32)
    finally:
        if dmat:
            lib.XGDMatrixFree(dmat)
        lib.XGBoosterFree(booster)


def slow_torchscript_calibrated(path: Path, seconds: float = 0.06, size: int = 384) -> Path:
    """slow_torchscript with as many rounds as make one call take about `seconds` on this
    machine with one intra-op thread (the server under test runs here too)."""
    import math
    import time

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        probe = torch.jit.script(SlowIdentity(size, 4).eval())
        x = torch.zeros(1, 4)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            probe(x)
            best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    rounds = min(2000, max(4, math.ceil(seconds / (best / 4))))
    return slow_torchscript(path, size=size, rounds=rounds)


class Types(torch.nn.Module):
    """One input per datatype TorchScript serves; each comes back doubled (BOOL: negated)."""

    def forward(self, b: torch.Tensor, u8: torch.Tensor, i8: torch.Tensor, i16: torch.Tensor,
                i32: torch.Tensor, i64: torch.Tensor, f16: torch.Tensor, f32: torch.Tensor,
                f64: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"b": ~b, "u8": u8 * 2, "i8": i8 * 2, "i16": i16 * 2, "i32": i32 * 2,
                "i64": i64 * 2, "f16": f16 * 2, "f32": f32 * 2, "f64": f64 * 2}


# Input name -> (OIP datatype, numpy dtype) of the Types model.
TYPES = {"b": ("BOOL", "bool"), "u8": ("UINT8", "uint8"), "i8": ("INT8", "int8"),
         "i16": ("INT16", "int16"), "i32": ("INT32", "int32"), "i64": ("INT64", "int64"),
         "f16": ("FP16", "float16"), "f32": ("FP32", "float32"), "f64": ("FP64", "float64")}


def torchscript_types(path: Path) -> Path:
    torch.jit.script(Types().eval()).save(str(path))
    return path
