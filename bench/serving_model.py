#!/usr/bin/python3
"""Makes the models and fixed request bodies of bench/serving.sh, in OUT_DIR:

  cnn.pt            TorchScript CNN, Fashion-MNIST sized: x FP32 [-1,1,28,28] -> output__0 FP32 [-1,10]
                    conv 1->16 3x3, relu, maxpool 2, conv 16->32 3x3, relu, maxpool 2, linear 800->10
  trivial.pt        TorchScript x -> x * 1 on FP32 [-1,4] (for the added-latency claim)
  image.bin         one 1x1x28x28 image, 3136 raw little-endian float32 bytes (the gRPC loader's input)
  cnn.json          OIP v2 JSON infer request for that image (flat data)
  cnn.bin           OIP v2 binary-extension request: JSON header, then the 3136 raw bytes; asks for
  cnn.bin.hlen        the output as binary; .hlen holds the JSON header's length (Inference-Header-Content-Length)
  trivial.bin, trivial.bin.hlen, trivial.json    the same for the trivial model, input [1,4]
  expected.json     the CNN's logits for the image, computed in-process (to check the servers' answers)

The forward() argument is named `x`: TorchScript records input names from it, and the server
serves the input under that name.
  /usr/bin/python3 bench/serving_model.py OUT_DIR
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3)
        self.conv2 = nn.Conv2d(16, 32, 3)
        self.fc = nn.Linear(32 * 5 * 5, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)   # 28 -> 26 -> 13
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)   # 13 -> 11 -> 5
        return self.fc(torch.flatten(x, 1))


class Trivial(nn.Module):
    def forward(self, x):
        return x * 1


def binary_request(input_name, shape, raw, output_name):
    header = json.dumps({
        "inputs": [{"name": input_name, "shape": shape, "datatype": "FP32",
                    "parameters": {"binary_data_size": len(raw)}}],
        "outputs": [{"name": output_name, "parameters": {"binary_data": True}}],
    }, separators=(",", ":")).encode()
    return header + raw, len(header)


def json_request(input_name, shape, values):
    return json.dumps({"inputs": [{"name": input_name, "shape": shape, "datatype": "FP32",
                                   "data": values}]}, separators=(",", ":")).encode()


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    cnn = torch.jit.script(Cnn().eval())
    cnn.save(str(out / "cnn.pt"))
    torch.jit.script(Trivial().eval()).save(str(out / "trivial.pt"))

    # The image: values with 3 decimals, so the JSON text is short and parses to exactly the
    # float32 values sent as raw bytes in the binary request.
    rng = np.random.default_rng(0)
    values = [round(float(v), 3) for v in rng.random(28 * 28)]
    image = np.asarray(values, dtype="<f4")
    raw = image.tobytes()
    assert len(raw) == 3136
    (out / "image.bin").write_bytes(raw)
    (out / "cnn.json").write_bytes(json_request("x", [1, 1, 28, 28], values))
    body, hlen = binary_request("x", [1, 1, 28, 28], raw, "output__0")
    (out / "cnn.bin").write_bytes(body)
    (out / "cnn.bin.hlen").write_text(str(hlen))

    tvalues = [0.5, -1.25, 2.0, 3.0]
    traw = np.asarray(tvalues, dtype="<f4").tobytes()
    (out / "trivial.json").write_bytes(json_request("x", [1, 4], tvalues))
    body, hlen = binary_request("x", [1, 4], traw, "output__0")
    (out / "trivial.bin").write_bytes(body)
    (out / "trivial.bin.hlen").write_text(str(hlen))

    with torch.inference_mode():
        logits = cnn(torch.from_numpy(image.copy()).reshape(1, 1, 28, 28))
    (out / "expected.json").write_text(json.dumps({"cnn": logits.reshape(-1).tolist(),
                                                   "trivial": tvalues}))


if __name__ == "__main__":
    main()
