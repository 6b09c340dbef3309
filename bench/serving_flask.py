#!/usr/bin/python3
"""The peer of bench/serving.sh: what a user would otherwise write to serve a TorchScript model,
a Flask app (Debian's python3-flask) with PyTorch (python3-torch), run by Flask's built-in
threaded server. It answers the same Open Inference Protocol v2 JSON request as aimass on
POST /v2/models/cnn/infer (inputs[0].data flat, inputs[0].shape) with an OIP JSON answer.

  /usr/bin/python3 bench/serving_flask.py MODEL.pt PORT TOKEN
"""
import logging
import sys

import torch
from flask import Flask, abort, jsonify, request

path, port, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]

# torch.set_num_threads is left alone, as a user would leave it: the default of Debian's
# python3-torch (printed below; 1 on the project's machine, where OpenMP reports one thread),
# while Flask's threads run requests side by side, each forward releasing the GIL.
print(f"flask: torch intra-op threads {torch.get_num_threads()} (default)", file=sys.stderr, flush=True)

model = torch.jit.load(path).eval()
app = Flask(__name__)
# The one change from the defaults: no line on stderr per request, as aimass runs with
# log.access=false in the same benchmark.
logging.getLogger("werkzeug").setLevel(logging.ERROR)
expected_auth = f"Bearer {token}"


@app.post("/v2/models/cnn/infer")
def infer():
    # The same check aimass makes (a bearer credential), kept to a string compare here.
    if request.headers.get("Authorization") != expected_auth:
        abort(401)
    body = request.get_json()
    inp = body["inputs"][0]
    x = torch.tensor(inp["data"], dtype=torch.float32).reshape(inp["shape"])
    with torch.inference_mode():
        y = model(x)
    return jsonify({
        "model_name": "cnn",
        "outputs": [{"name": "output__0", "datatype": "FP32", "shape": list(y.shape),
                     "data": y.reshape(-1).tolist()}],
    })


@app.get("/v2/health/ready")
def ready():
    return ""


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=port, threaded=True)
