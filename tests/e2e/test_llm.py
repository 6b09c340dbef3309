"""Language models served through the OpenAI-compatible API: a tiny Llama-architecture model
made here (random weights, a SentencePiece tokenizer trained on the Debian FAQ), checked against
the plain PyTorch reference in llm_model.py: logits, greedy tokens, streams, concurrency,
disconnects, bad input."""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import requests
import torch

import llm_model
from conftest import ServerFactory, assert_error, describe, metric_value, parse_metrics, unique, wait_for

TAR = {"Content-Type": "application/x-tar"}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return llm_model.train_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def sp(tokenizer):
    import sentencepiece as spm
    return spm.SentencePieceProcessor(model_file=str(tokenizer))


@pytest.fixture(scope="module")
def server(aimass_bin, tmp_path_factory):
    factory = ServerFactory(aimass_bin, tmp_path_factory, "llm")
    srv = factory()
    yield srv
    factory.stop_all()


def push(client, files: dict[str, bytes]):
    model = unique("llm")
    r = client.post("/api/v1/models", json={"name": model})
    assert r.status_code == 201, describe(r)
    return model, client.post(f"/api/v1/models/{model}/versions?framework=llm", data=llm_model.tar_of(files), headers=TAR)


def deploy(client, model, **llm):
    name = unique("dep")
    body = {"name": name, "model": model, "version": 1, "timeout_ms": 120000}
    if llm:
        body["llm"] = llm
    r = client.post("/api/v1/deployments", json=body)
    assert r.status_code == 201, describe(r)
    return name


@pytest.fixture(scope="module")
def f32(server, tokenizer, sp):
    cfg = llm_model.make_config(sp.get_piece_size())
    weights = llm_model.random_weights(cfg, seed=1)
    model, r = push(server.admin, llm_model.model_files(cfg, weights, tokenizer))
    assert r.status_code == 201, describe(r)
    assert r.json()["status"] == "ready", r.json()
    return {"cfg": cfg, "ref": llm_model.Reference(cfg, weights), "dep": deploy(server.admin, model, kv_cache_mb=8),
            "weights": weights, "model": model}


def complete(client, dep, prompt, **kw):
    body = {"model": dep, "prompt": prompt, "temperature": 0, **kw}
    return client.post("/v1/completions", json=body)


def prompt_ids(sp, text):
    return [1] + sp.encode(text)


def check_against_reference(client, dep, ref, ids, steps=16, tolerance=1e-4, top=True):
    r = complete(client, dep, ids, max_tokens=steps, logprobs=5, ignore_eos=True)
    assert r.status_code == 200, describe(r)
    body = r.json()
    choice = body["choices"][0]
    want_tokens, want_lps = ref.greedy(ids, steps)
    got_lps = choice["logprobs"]["token_logprobs"]
    assert body["usage"] == {"prompt_tokens": len(ids), "completion_tokens": steps, "total_tokens": len(ids) + steps}
    worst = 0.0
    for step, (lp, want) in enumerate(zip(got_lps, want_lps)):
        # The chosen token's logprob is the reference's best, and the five best agree.
        assert abs(lp - float(want.max())) < tolerance, (step, lp, float(want.max()))
        if not top:
            continue
        top5 = sorted(choice["logprobs"]["top_logprobs"][step].values(), reverse=True)
        ref_top = torch.topk(want, 5).values.tolist()
        for a, b in zip(top5, ref_top):
            worst = max(worst, abs(a - b))
    assert worst < tolerance, worst
    print(f"largest top-5 logprob difference from the reference over {steps} steps: {worst:.2e}")
    return want_tokens, choice["text"]


def test_logits_and_greedy_tokens_equal_the_reference(server, f32, sp):
    a = server.admin
    ids = prompt_ids(sp, "What is Debian? Debian is a free operating system")
    want_tokens, text = check_against_reference(a, f32["dep"], f32["ref"], ids)
    assert text == sp.decode(want_tokens)
    # A string prompt is tokenized as SentencePiece does, BOS first.
    r = complete(a, f32["dep"], "What is Debian? Debian is a free operating system", max_tokens=16, ignore_eos=True)
    assert r.status_code == 200, describe(r)
    assert r.json()["usage"]["prompt_tokens"] == len(ids)
    assert r.json()["choices"][0]["text"] == text


def test_bf16_shards_and_tied_embeddings(server, tokenizer, sp):
    cfg = llm_model.make_config(sp.get_piece_size(), tie=True, layers=3)
    weights = llm_model.random_weights(cfg, seed=2)
    files = llm_model.model_files(cfg, weights, tokenizer, dtype=torch.bfloat16, shards=3)
    model, r = push(server.admin, files)
    assert r.status_code == 201 and r.json()["status"] == "ready", describe(r)
    dep = deploy(server.admin, model)
    bf16 = {k: v.to(torch.bfloat16).to(torch.float32) for k, v in weights.items()}
    check_against_reference(server.admin, dep, llm_model.Reference(cfg, bf16), prompt_ids(sp, "How do I install a package"))


def test_stream_concatenates_to_the_whole_answer(server, f32):
    a = server.admin
    body = {"model": f32["dep"], "messages": [{"role": "system", "content": "You answer questions about Debian."},
                                              {"role": "user", "content": "How do I upgrade?"}],
            "temperature": 0, "max_tokens": 24, "ignore_eos": True}
    whole = a.post("/v1/chat/completions", json=body)
    assert whole.status_code == 200, describe(whole)
    answer = whole.json()
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["role"] == "assistant"
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 24
    r = a.post("/v1/chat/completions", json={**body, "stream": True, "stream_options": {"include_usage": True}}, stream=True)
    assert r.status_code == 200, describe(r)
    assert r.headers["Content-Type"].startswith("text/event-stream")
    events = [line[len("data: "):] for line in r.iter_lines(decode_unicode=True) if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == answer["choices"][0]["message"]["content"]
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finals) == 1 and finals[0]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == answer["usage"]


def test_sixteen_concurrent_requests_equal_each_alone(server, f32, sp):
    a = server.admin
    texts = [f"Question {i}: where are the {w} packages kept?" for i, w in
             enumerate("main contrib non-free source binary debug old new stable testing unstable security "
                       "backports updates archive mirror".split())]
    alone = []
    for t in texts:
        r = complete(a, f32["dep"], t, max_tokens=20, ignore_eos=True)
        assert r.status_code == 200, describe(r)
        alone.append(r.json()["choices"][0]["text"])
    together = [None] * len(texts)
    def one(i):
        together[i] = complete(a, f32["dep"], texts[i], max_tokens=20, ignore_eos=True)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, r in enumerate(together):
        assert r.status_code == 200, describe(r)
        assert r.json()["choices"][0]["text"] == alone[i], i


def engine_state(server, dep):
    samples = parse_metrics(server.admin.get("/metrics").text)
    return {s: metric_value(samples, "aimass_llm_engine", deployment=dep, version="1", state=s)
            for s in ("running", "kv_blocks_used", "kv_blocks_total")}


def test_disconnected_stream_frees_its_blocks(server, f32):
    a = server.admin
    body = json.dumps({"model": f32["dep"], "prompt": "A long answer about mirrors", "max_tokens": 200,
                       "temperature": 0.8, "ignore_eos": True, "stream": True}).encode()
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Authorization: Bearer " + a.token.encode() + b"\r\nContent-Length: " + str(len(body)).encode() +
                 b"\r\n\r\n" + body)
    got = b""
    while got.count(b"data: ") < 3:
        got += sock.recv(4096)
    wait_for(lambda: engine_state(server, f32["dep"])["kv_blocks_used"] > 0, 10, "blocks in use while streaming")
    sock.close()
    wait_for(lambda: engine_state(server, f32["dep"])["kv_blocks_used"] == 0, 10, "blocks freed after the disconnect")
    state = engine_state(server, f32["dep"])
    assert state["running"] == 0 and state["kv_blocks_total"] > 0


def test_a_client_that_leaves_a_whole_answer_frees_its_sequence(server, tokenizer, sp):
    """A non-streamed answer is watched too: its client closing the connection cancels the
    generation at once (nginx's broken-connection check), not when the answer is written. The
    model is big enough that 4000 tokens take seconds."""
    a = server.admin
    cfg = llm_model.make_config(sp.get_piece_size(), hidden=256, intermediate=1024, layers=4, max_pos=4096)
    model, r = push(a, llm_model.model_files(cfg, llm_model.random_weights(cfg, seed=5), tokenizer))
    assert r.status_code == 201, describe(r)
    dep = deploy(a, model, kv_cache_mb=32)
    assert complete(a, dep, "Warm up", max_tokens=2).status_code == 200

    def cancelled():
        samples = parse_metrics(a.get("/metrics").text)
        return metric_value(samples, "aimass_inference_requests_total", deployment=dep, version="1", outcome="cancelled")
    assert cancelled() == 0
    body = json.dumps({"model": dep, "prompt": "A very long answer", "max_tokens": 4000, "temperature": 0.8,
                       "ignore_eos": True}).encode()
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Authorization: Bearer " + a.token.encode() + b"\r\nContent-Length: " + str(len(body)).encode() +
                 b"\r\n\r\n" + body)
    wait_for(lambda: engine_state(server, dep)["kv_blocks_used"] > 0, 10, "the generation to run")
    sock.close()
    wait_for(lambda: engine_state(server, dep)["kv_blocks_used"] == 0, 10, "blocks freed after the disconnect")
    assert engine_state(server, dep)["running"] == 0
    assert cancelled() == 1, "the generation ran to its end instead of being cancelled"
    # The server goes on answering, whole answers included.
    assert complete(a, dep, "Again", max_tokens=3).json()["usage"]["completion_tokens"] == 3


def test_sampling_seed_stop_and_chat_template(server, f32, sp):
    a = server.admin
    body = {"model": f32["dep"], "prompt": "Debian mirrors", "max_tokens": 30, "temperature": 1.0, "top_p": 0.9,
            "top_k": 50, "seed": 7, "ignore_eos": True}
    first = a.post("/v1/completions", json=body).json()["choices"][0]["text"]
    assert a.post("/v1/completions", json=body).json()["choices"][0]["text"] == first
    others = {a.post("/v1/completions", json={**body, "seed": s}).json()["choices"][0]["text"] for s in range(8, 12)}
    assert len(others | {first}) > 1, "different seeds all drew the same text"
    # A stop sequence cuts the answer before it.
    greedy = complete(a, f32["dep"], "Debian mirrors", max_tokens=30, ignore_eos=True).json()["choices"][0]["text"]
    stop = greedy[len(greedy) // 2: len(greedy) // 2 + 3]
    cut = complete(a, f32["dep"], "Debian mirrors", max_tokens=30, ignore_eos=True, stop=[stop]).json()["choices"][0]
    assert cut["finish_reason"] == "stop" and cut["text"] == greedy[:greedy.index(stop)]
    # The vocabulary has <|im_start|>: ChatML is the template; the prompt is exactly that.
    msgs = [{"role": "user", "content": "Hello"}]
    r = a.post("/v1/chat/completions", json={"model": f32["dep"], "messages": msgs, "max_tokens": 1})
    im_start, im_end = sp.piece_to_id("<|im_start|>"), sp.piece_to_id("<|im_end|>")
    want = [im_start] + sp.encode("user\nHello") + [im_end] + sp.encode("\n") + [im_start] + sp.encode("assistant\n")
    assert r.json()["usage"]["prompt_tokens"] == len(want), describe(r)


def test_bad_input_gets_openai_errors(server, f32, aimass_bin):
    a = server.admin
    dep = f32["dep"]
    too_long = complete(a, dep, [5] * 300, max_tokens=4)
    assert_error(too_long, 400)
    err = too_long.json()["error"]
    assert err["type"] == "invalid_request_error" and "maximum context length is 256 tokens" in err["message"]
    assert_error(complete(a, dep, [5] * 250, max_tokens=10), 400)  # prompt fits, prompt + max_tokens does not
    missing = complete(a, "no-such-model", "hi")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
    for bad in ({"temperature": 5}, {"top_p": 0}, {"n": 2}, {"max_tokens": 0}, {"logprobs": 50},
                {"presence_penalty": 3}, {"stop": [1, 2]}, {"tools": [{"type": "function"}]}):
        r = complete(a, dep, "hi", **bad)
        assert r.status_code == 400 and "error" in r.json() and r.json()["error"]["message"], (bad, describe(r))
    assert complete(a, dep, [999999]).status_code == 400
    assert a.post("/v1/chat/completions", json={"model": dep}).status_code == 400
    assert a.post("/v1/chat/completions", json={"model": dep, "messages": [{"role": "robot", "content": "x"}]}).status_code == 400
    bad_json = a.post("/v1/chat/completions", data=b"{not json", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and "error" in bad_json.json()
    anonymous = requests.post(server.url + "/v1/chat/completions", json={"model": dep, "messages": []})
    assert anonymous.status_code == 401 and anonymous.json()["error"]["type"] == "authentication_error"
    # The v2 infer route of a language model says where to go.
    r = a.post(f"/v2/models/{dep}/infer", json={"inputs": [{"name": "prompt", "datatype": "BYTES", "shape": [1], "data": ["x"]}]})
    assert r.status_code == 400 and "/v1/chat/completions" in r.json()["error"]


def test_models_list_and_metrics(server, f32):
    a = server.admin
    r = a.get("/v1/models")
    assert r.status_code == 200
    ids = [m["id"] for m in r.json()["data"]]
    assert f32["dep"] in ids and r.json()["object"] == "list"
    samples = parse_metrics(a.get("/metrics").text)
    assert metric_value(samples, "aimass_llm_tokens_total", deployment=f32["dep"], version="1", kind="generated") > 0
    assert metric_value(samples, "aimass_llm_time_to_first_token_seconds_count", deployment=f32["dep"], version="1") > 0
    complete(a, f32["dep"], "tokens for the window", max_tokens=8, ignore_eos=True)
    m = a.get(f"/api/v1/deployments/{f32['dep']}/metrics?window_s=60").json()["versions"][0]
    assert m["llm"]["generated_tokens"] >= 8 and m["llm"]["kv_blocks_total"] > 0, m
    assert m["llm"]["tokens_per_s"] > 0 and m["llm"]["ttft_p50_ms"] > 0 and m["llm"]["itl_p50_ms"] > 0, m


def test_uploads_are_validated(server, tokenizer, sp):
    a = server.admin
    cfg = llm_model.make_config(sp.get_piece_size())
    weights = llm_model.random_weights(cfg, seed=3)
    missing = dict(weights)
    del missing["model.layers.1.mlp.up_proj.weight"]
    _, r = push(a, llm_model.model_files(cfg, missing, tokenizer))
    assert r.status_code == 422 and "model.layers.1.mlp.up_proj.weight" in describe(r), describe(r)
    wrong = dict(weights)
    wrong["model.layers.0.self_attn.k_proj.weight"] = torch.zeros(64, 64)
    _, r = push(a, llm_model.model_files(cfg, wrong, tokenizer))
    assert r.status_code == 422 and "[64,64], the config implies [32,64]" in describe(r), describe(r)
    files = llm_model.model_files(cfg, weights, tokenizer)
    del files["tokenizer.model"]
    _, r = push(a, files)
    assert r.status_code == 422 and "tokenizer" in describe(r)
    files = llm_model.model_files(cfg, weights, tokenizer)
    files["config.json"] = json.dumps({**cfg, "architectures": ["GPT2LMHeadModel"]}).encode()
    _, r = push(a, files)
    assert r.status_code == 422 and "GPT2LMHeadModel" in describe(r)
    files = llm_model.model_files(cfg, weights, tokenizer)
    del files["config.json"]
    _, r = push(a, files)
    assert r.status_code == 400 and "config.json" in describe(r)


def test_int8_stays_close(server, f32, sp):
    a = server.admin
    dep = deploy(a, f32["model"], int8=True)
    ids = prompt_ids(sp, "Where do I report a bug")
    r = complete(a, dep, ids, max_tokens=1, logprobs=5)
    exact = complete(a, f32["dep"], ids, max_tokens=1, logprobs=5)
    got = r.json()["choices"][0]["logprobs"]["top_logprobs"][0]
    want = exact.json()["choices"][0]["logprobs"]["top_logprobs"][0]
    assert list(got)[0] == list(want)[0], (got, want)
    diff = max(abs(got[k] - want[k]) for k in set(got) & set(want))
    print(f"int8 against F32: largest top-5 logprob difference {diff:.3g}")
    assert diff < 0.1, (got, want)


def test_gateway_token_budget_per_consumer(server, f32):
    """A route to the platform's own API (a platform API key set on the upstream request): a
    consumer with an API key, 150 tokens a minute; each answer's usage comes out of it."""
    a = server.admin
    platform_key = a.post("/api/v1/apikeys", json={"name": unique("gw")})
    assert platform_key.status_code == 201, describe(platform_key)
    upstream = unique("self")
    assert a.post("/api/v1/gateway/upstreams", json={"name": upstream, "targets": [{"url": server.url}],
                                                     "timeout_ms": 60000}).status_code == 201
    route = unique("llmrt")
    r = a.post("/api/v1/gateway/routes", json={
        "name": route, "paths": [f"/{route}"], "strip_path": True, "upstream": upstream, "auth": ["key"],
        "plugins": {"token_limit": {"tokens_per_minute": 150},
                    "request_headers": {"Authorization": "Bearer " + platform_key.json()["key"]}}})
    assert r.status_code == 201, describe(r)
    consumer = unique("app")
    assert a.post("/api/v1/gateway/consumers", json={"name": consumer}).status_code == 201
    key = a.post(f"/api/v1/gateway/consumers/{consumer}/keys").json()["key"]
    other = unique("app")
    assert a.post("/api/v1/gateway/consumers", json={"name": other}).status_code == 201
    other_key = a.post(f"/api/v1/gateway/consumers/{other}/keys").json()["key"]
    session = requests.Session()
    session.trust_env = False
    body = {"model": f32["dep"], "prompt": [1, 5, 6, 7, 8, 9, 10, 11, 12, 13], "max_tokens": 30, "temperature": 0,
            "ignore_eos": True}
    first = session.post(f"{server.url}/{route}/v1/completions", json=body, headers={"X-API-Key": key})
    assert first.status_code == 200, describe(first)
    assert first.json()["usage"]["total_tokens"] == 40
    assert first.headers["x-ratelimit-limit-tokens"] == "150"
    assert int(first.headers["x-ratelimit-remaining-tokens"]) == 110
    for _ in range(4):  # 40 more each: 200 of 150 spent, the budget overdrawn (refilling 2.5 a second)
        session.post(f"{server.url}/{route}/v1/completions", json=body, headers={"X-API-Key": key})
    refused = session.post(f"{server.url}/{route}/v1/completions", json=body, headers={"X-API-Key": key})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1, describe(refused)
    assert "token budget" in refused.json()["error"]["message"]
    # Another consumer has a budget of its own; a streamed answer is forwarded token by token
    # (its head, sent before any token, shows the budget before it) and counted by its final usage.
    streamed = session.post(f"{server.url}/{route}/v1/completions", json={**body, "stream": True},
                            headers={"X-API-Key": other_key}, stream=True)
    assert streamed.status_code == 200, describe(streamed)
    assert int(streamed.headers["x-ratelimit-remaining-tokens"]) == 150
    events = [line for line in streamed.iter_lines() if line]
    assert events[-1] == b"data: [DONE]" and len(events) > 10, events
    after = session.post(f"{server.url}/{route}/v1/completions", json=body, headers={"X-API-Key": other_key})
    # 150 - 40 - 40, and what refilled meanwhile (2.5 tokens a second).
    assert 70 <= int(after.headers["x-ratelimit-remaining-tokens"]) <= 72, "the stream's 40 tokens were charged"
    # Without a consumer key the route refuses.
    assert session.post(f"{server.url}/{route}/v1/completions", json=body).status_code == 401


def test_cli_models_chat_and_complete(server, f32, aimass_bin, tmp_path):
    from test_cli import Cli
    home = tmp_path / "home"
    home.mkdir()
    cli = Cli(aimass_bin, home)
    cli.login(server)
    listed = cli.run("llm", "models").stdout
    assert f32["dep"] in listed
    # The CLI's answer is the API's (greedy: the same text).
    api = server.admin.post("/v1/chat/completions", json={
        "model": f32["dep"], "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "temperature": 0, "max_tokens": 12}).json()
    out = cli.run("llm", "chat", f32["dep"], "Hi", "--system", "Be brief.", "--temperature", "0", "--max-tokens", "12")
    assert out.stdout == api["choices"][0]["message"]["content"] + "\n"
    assert "completion tokens" in out.stderr
    whole = cli.json("llm", "complete", f32["dep"], "Debian", "--temperature", "0", "--max-tokens", "5")
    assert whole["object"] == "text_completion" and whole["usage"]["prompt_tokens"] > 0
    bad = cli.run("llm", "chat", "no-such-model", "Hi", expect=1)
    assert "not found" in bad.stderr


def test_alias_follow_and_canary(server, tokenizer, sp):
    """A language-model deployment follows its alias to a new version and splits traffic with a
    canary, as other deployments do; `system_fingerprint` says which version answered."""
    a = server.admin
    cfg = llm_model.make_config(sp.get_piece_size())
    model, r = push(a, llm_model.model_files(cfg, llm_model.random_weights(cfg, seed=11), tokenizer))
    assert r.status_code == 201, describe(r)
    r = a.post(f"/api/v1/models/{model}/versions?framework=llm",
               data=llm_model.tar_of(llm_model.model_files(cfg, llm_model.random_weights(cfg, seed=12), tokenizer)), headers=TAR)
    assert r.status_code == 201 and r.json()["version"] == 2, describe(r)
    assert a.put(f"/api/v1/models/{model}/aliases/production", json={"version": 1}).status_code == 200
    name = unique("dep")
    r = a.post("/api/v1/deployments", json={"name": name, "model": model, "alias": "production"})
    assert r.status_code == 201, describe(r)
    fingerprint = lambda: complete(a, name, "Hello", max_tokens=2).json()["system_fingerprint"]
    assert fingerprint() == f"aimass-{name}-v1"
    assert a.put(f"/api/v1/models/{model}/aliases/production", json={"version": 2}).status_code == 200
    wait_for(lambda: fingerprint() == f"aimass-{name}-v2", 30, "the deployment following its alias to version 2")
    # Half the calls to version 1 as a canary.
    r = a.patch(f"/api/v1/deployments/{name}", json={"traffic": {"candidate": {"version": 1}, "weight": 50}})
    assert r.status_code == 200, describe(r)
    seen = {fingerprint() for _ in range(30)}
    assert seen == {f"aimass-{name}-v1", f"aimass-{name}-v2"}, seen
    versions = {v["version"] for v in a.get(f"/api/v1/deployments/{name}/metrics").json()["versions"]}
    assert versions == {1, 2}


def test_deleting_a_deployment_during_a_stream(server, tokenizer, sp):
    """The stream in flight keeps its engine until it ends; the server stays up and the name is
    free again."""
    a = server.admin
    cfg = llm_model.make_config(sp.get_piece_size())
    model, r = push(a, llm_model.model_files(cfg, llm_model.random_weights(cfg, seed=21), tokenizer))
    assert r.status_code == 201, describe(r)
    dep = deploy(a, model, kv_cache_mb=4)
    stream = a.post("/v1/completions", json={"model": dep, "prompt": "Long", "max_tokens": 200, "ignore_eos": True,
                                             "stream": True}, stream=True)
    assert stream.status_code == 200
    lines = stream.iter_lines(decode_unicode=True)
    next(line for line in lines if line.startswith("data: "))
    assert a.delete(f"/api/v1/deployments/{dep}").status_code == 204
    rest = [line for line in lines if line.startswith("data: ")]
    assert rest[-1] == "data: [DONE]"
    assert a.get("/readyz").status_code == 200
    assert complete(a, dep, "x").status_code == 404
    assert a.get("/v1/models").status_code == 200


def byte_level_tokenizer_json() -> bytes:
    """A tokenizer.json of GPT-2's byte alphabet (every byte a token, ids 0-255) with one merge,
    and Llama 3's special tokens."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars, n = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + n)
            n += 1
    vocab = {chars[b]: b for b in range(256)}
    vocab[chars[ord("D")] + chars[ord("e")]] = 256
    return json.dumps({"model": {"type": "BPE", "vocab": vocab, "merges": [[chars[ord("D")], chars[ord("e")]]]},
                       "added_tokens": [{"id": 257, "content": "<|begin_of_text|>", "special": True},
                                        {"id": 258, "content": "<|end_of_text|>", "special": True}]}).encode()


def test_byte_level_bpe_tokenizer_json(server):
    """A model whose tokenizer is a byte-level BPE tokenizer.json: the prompt is tokenized with
    BOS and the merge, the logits are the reference's, the answer decodes its bytes."""
    a = server.admin
    cfg = {**llm_model.make_config(259), "bos_token_id": 257, "eos_token_id": 258}
    weights = llm_model.random_weights(cfg, seed=31)
    files = llm_model.model_files(cfg, weights, llm_model.Path("/dev/null"))
    del files["tokenizer.model"]
    files["tokenizer.json"] = byte_level_tokenizer_json()
    model, r = push(a, files)
    assert r.status_code == 201 and r.json()["status"] == "ready", describe(r)
    dep = deploy(a, model)
    r = complete(a, dep, "Debian", max_tokens=1)
    assert r.status_code == 200, describe(r)
    assert r.json()["usage"]["prompt_tokens"] == 1 + 1 + 4  # BOS, "De", "b", "i", "a", "n"
    ids = [257, 256] + list(b"bian")
    # Tokens of single bytes have no text of their own, so completions' top_logprobs (keyed by
    # text) fold them together: the chosen token's logprob is compared at each step.
    check_against_reference(a, dep, llm_model.Reference(cfg, weights), ids, steps=8, top=False)


def test_f16_weights_and_more_instances(server, tokenizer, sp):
    """F16 weights are widened at load and give the reference's logits (of the F16-rounded
    weights); a PATCH to two instances loads a second engine (what the autoscaler does), whose
    KV blocks join the gauges, and both answer alike."""
    a = server.admin
    cfg = llm_model.make_config(sp.get_piece_size())
    weights = llm_model.random_weights(cfg, seed=41)
    model, r = push(a, llm_model.model_files(cfg, weights, tokenizer, dtype=torch.float16))
    assert r.status_code == 201 and r.json()["status"] == "ready", describe(r)
    dep = deploy(a, model, kv_cache_mb=2)
    f16 = {k: v.to(torch.float16).to(torch.float32) for k, v in weights.items()}
    ids = prompt_ids(sp, "Which release is stable")
    check_against_reference(a, dep, llm_model.Reference(cfg, f16), ids, steps=8)
    one = engine_state(server, dep)["kv_blocks_total"]
    r = a.patch(f"/api/v1/deployments/{dep}", json={"instances": 2})
    assert r.status_code == 200, describe(r)
    wait_for(lambda: engine_state(server, dep)["kv_blocks_total"] == 2 * one, 30, "the second engine's blocks")
    texts = {complete(a, dep, ids, max_tokens=6, ignore_eos=True).json()["choices"][0]["text"] for _ in range(6)}
    assert len(texts) == 1, texts
