"""Gateway consumers: JWT credentials (HS256, RS256 public key, JWKS URL), API keys, the OAuth
2.0 client-credentials grant, and routes' RBAC permissions for consumers."""

import base64
import hashlib
import hmac
import json
import subprocess
import time

import pytest
import requests

from conftest import assert_error, b64url, describe, unique
from test_gateway import ROUTES, UPSTREAMS, Echo, JsonServer

CONSUMERS = "/api/v1/gateway/consumers"
SECRET = "s3cret-" * 8


def hs256(claims: dict, secret: str = SECRET, header: dict | None = None) -> str:
    head = b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    signing_input = f"{head}.{body}".encode()
    key = secret.encode() if isinstance(secret, str) else secret
    return f"{head}.{body}.{b64url(hmac.new(key, signing_input, hashlib.sha256).digest())}"


def rs256(claims: dict, private_key, kid: str | None = None) -> str:
    header = {"alg": "RS256", "typ": "JWT", **({"kid": kid} if kid else {})}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}".encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(private_key)], input=signing_input,
                         capture_output=True, check=True).stdout
    return f"{signing_input.decode()}.{b64url(sig)}"


@pytest.fixture(scope="module")
def rsa(tmp_path_factory):
    d = tmp_path_factory.mktemp("gwkeys")
    priv, pub = d / "priv.pem", d / "pub.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(priv)],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(priv), "-pubout", "-out", str(pub)], check=True, capture_output=True)
    modulus = subprocess.run(["openssl", "rsa", "-pubin", "-in", str(pub), "-noout", "-modulus"],
                             check=True, capture_output=True, text=True).stdout.strip().split("=", 1)[1]
    jwk = {"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
           "n": b64url(bytes.fromhex(modulus)), "e": b64url((65537).to_bytes(3, "big"))}
    return {"priv": priv, "pub": pub, "jwk": jwk}


@pytest.fixture(scope="module")
def echo():
    e = Echo("auth-echo")
    yield e
    e.stop()


@pytest.fixture(scope="module")
def upstream(server, echo):
    name = unique("up")
    assert server.admin.post(UPSTREAMS, json={"name": name, "targets": [{"url": echo.url}]}).status_code == 201
    return name


def route(server, upstream, **extra):
    name = unique("rt")
    resp = server.admin.post(ROUTES, json={"name": name, "paths": [f"/c/{name}"], "upstream": upstream, **extra})
    assert resp.status_code == 201, describe(resp)
    return f"/c/{name}"


def consumer(server, **extra):
    name = unique("cons")
    resp = server.admin.post(CONSUMERS, json={"name": name, **extra})
    assert resp.status_code == 201, describe(resp)
    return name


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def claims(iss, **extra):
    now = int(time.time())
    return {"iss": iss, "sub": "app", "iat": now, "exp": now + 300, **extra}


def test_hs256_consumer_jwt_accepted_and_the_bad_ones_refused(server, upstream):
    iss = unique("iss")
    name = consumer(server, jwt=[{"key": iss, "algorithm": "HS256", "secret": SECRET, "audiences": ["orders"]}])
    path = route(server, upstream, auth=["jwt"])
    anon = server.anonymous

    ok = anon.get(path, headers=bearer(hs256(claims(iss, aud="orders"))))
    assert ok.status_code == 200, describe(ok)
    assert ok.json()["headers"]["x-consumer"] == name
    assert "authorization" not in ok.json()["headers"]

    now = int(time.time())
    for token, why in [
        (hs256(claims(iss, aud="orders", exp=now - 10)), "expired"),
        (hs256(claims(iss, aud="billing")), "wrong aud"),
        (hs256(claims(iss)), "no aud"),
        (hs256(claims(iss, aud="orders"), secret="another-secret-" * 4), "wrong key"),
        (hs256(claims(iss, aud="orders", nbf=now + 600)), "not yet valid"),
        (hs256({k: v for k, v in claims(iss, aud="orders").items() if k != "exp"}), "no exp"),
        (hs256(claims("nobody", aud="orders")), "unknown issuer"),
        (hs256(claims(iss, aud="orders"), header={"alg": "none"}), "alg none"),
        ("not.a.jwt", "garbage"),
    ]:
        resp = anon.get(path, headers=bearer(token))
        assert_error(resp, 401, "unauthenticated")
        assert resp.headers.get("WWW-Authenticate") == "Bearer", why
    assert_error(anon.get(path), 401, "unauthenticated")
    # a platform login token is not a consumer credential on a jwt-only route
    assert_error(server.admin.get(path), 401, "unauthenticated")
    # its secret is never shown back
    shown = server.admin.get(f"{CONSUMERS}/{name}").json()
    assert SECRET not in json.dumps(shown) and shown["jwt"][0]["key"] == iss


def test_rs256_public_key_and_the_alg_swap_attack(server, upstream, rsa):
    iss = unique("iss")
    consumer(server, jwt=[{"key": iss, "algorithm": "RS256", "public_key": rsa["pub"].read_text()}])
    path = route(server, upstream, auth=["jwt"])
    assert server.anonymous.get(path, headers=bearer(rs256(claims(iss), rsa["priv"]))).status_code == 200
    # HS256 signed with the public key as the secret: the credential pins RS256
    swapped = hs256(claims(iss), secret=rsa["pub"].read_bytes())
    assert_error(server.anonymous.get(path, headers=bearer(swapped)), 401, "unauthenticated")


def test_jwks_url_keys_are_fetched_and_used(server, upstream, rsa):
    jwks = JsonServer({"/jwks.json": {"keys": [rsa["jwk"]]}})
    try:
        iss = unique("iss")
        consumer(server, jwt=[{"key": iss, "jwks_url": f"{jwks.url}/jwks.json"}])
        path = route(server, upstream, auth=["jwt"])
        token = rs256(claims(iss), rsa["priv"], kid="k1")
        deadline = time.monotonic() + 10
        while True:
            resp = server.anonymous.get(path, headers=bearer(token))
            if resp.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert resp.status_code == 200, describe(resp)
        assert_error(server.anonymous.get(path, headers=bearer(rs256(claims(iss), rsa["priv"], kid="k9"))), 401,
                     "unauthenticated")
        # the provider rotates its keys: an unknown kid makes the gateway fetch the set again soon
        jwks.documents["/jwks.json"] = {"keys": [dict(rsa["jwk"], kid="k2")]}
        rotated = rs256(claims(iss), rsa["priv"], kid="k2")
        assert_error(server.anonymous.get(path, headers=bearer(rotated)), 401, "unauthenticated")
        deadline = time.monotonic() + 12
        while server.anonymous.get(path, headers=bearer(rotated)).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert server.anonymous.get(path, headers=bearer(rotated)).status_code == 200
        assert_error(server.anonymous.get(path, headers=bearer(token)), 401, "unauthenticated")  # k1 is gone
    finally:
        jwks.stop()


def test_consumer_api_keys(server, upstream):
    name = consumer(server)
    path = route(server, upstream, auth=["key"])
    made = server.admin.post(f"{CONSUMERS}/{name}/keys")
    assert made.status_code == 201, describe(made)
    key, key_id = made.json()["key"], made.json()["id"]
    for header in ("apikey", "X-API-Key"):
        resp = server.anonymous.get(path, headers={header: key})
        assert resp.status_code == 200, describe(resp)
        assert resp.json()["headers"]["x-consumer"] == name
        assert "apikey" not in resp.json()["headers"] and "x-api-key" not in resp.json()["headers"]
    assert_error(server.anonymous.get(path, headers={"apikey": key + "x"}), 401, "unauthenticated")
    listed = server.admin.get(f"{CONSUMERS}/{name}").json()
    assert [k["id"] for k in listed["api_keys"]] == [key_id] and key not in json.dumps(listed)
    assert server.admin.delete(f"{CONSUMERS}/{name}/keys/{key_id}").status_code == 204
    assert_error(server.anonymous.get(path, headers={"apikey": key}), 401, "unauthenticated")


def test_oauth_client_credentials_flow(server, upstream):
    name = consumer(server)
    path = route(server, upstream, auth=["oauth"])
    client = server.admin.post(f"{CONSUMERS}/{name}/oauth-clients").json()
    session = requests.Session()
    session.trust_env = False

    resp = session.post(server.url + "/oauth/token", data={"grant_type": "client_credentials",
                                                          "client_id": client["client_id"],
                                                          "client_secret": client["client_secret"]})
    assert resp.status_code == 200, describe(resp)
    tok = resp.json()
    assert tok["token_type"] == "Bearer" and tok["expires_in"] > 0 and resp.headers["Cache-Control"] == "no-store"
    got = session.get(server.url + path, headers=bearer(tok["access_token"]))
    assert got.status_code == 200 and got.json()["headers"]["x-consumer"] == name

    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    resp = session.post(server.url + "/oauth/token", data={"grant_type": "client_credentials"},
                        headers={"Authorization": f"Basic {basic}"})
    assert resp.status_code == 200, describe(resp)

    bad = session.post(server.url + "/oauth/token", data={"grant_type": "client_credentials",
                                                         "client_id": client["client_id"], "client_secret": "wrong"})
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    wrong_grant = session.post(server.url + "/oauth/token", data={"grant_type": "password"})
    assert wrong_grant.status_code == 400 and wrong_grant.json()["error"] == "unsupported_grant_type"
    # the client goes: its tokens stop working
    assert server.admin.delete(f"{CONSUMERS}/{name}/oauth-clients/{client['client_id']}").status_code == 204
    assert_error(session.get(server.url + path, headers=bearer(tok["access_token"])), 401, "unauthenticated")


def test_route_permissions_apply_to_consumers_through_their_roles(server, upstream):
    viewer = consumer(server, roles=["viewer"])
    admin = consumer(server, roles=["admin"])
    path = route(server, upstream, auth=["key"], permission="gateway:write")
    vkey = server.admin.post(f"{CONSUMERS}/{viewer}/keys").json()["key"]
    akey = server.admin.post(f"{CONSUMERS}/{admin}/keys").json()["key"]
    assert_error(server.anonymous.get(path, headers={"apikey": vkey}), 403, "forbidden")
    assert server.anonymous.get(path, headers={"apikey": akey}).status_code == 200
    assert_error(server.admin.post(CONSUMERS, json={"name": unique("c"), "roles": ["no-such-role"]}), 400, "bad_request")


def test_a_route_may_take_platform_tokens_and_consumer_keys(server, upstream):
    name = consumer(server)
    path = route(server, upstream, auth=["key", "platform"])
    key = server.admin.post(f"{CONSUMERS}/{name}/keys").json()["key"]
    assert server.anonymous.get(path, headers={"apikey": key}).json()["headers"]["x-consumer"] == name
    assert server.admin.get(path).json()["headers"]["x-consumer"] == "admin"
    assert_error(server.anonymous.get(path), 401, "unauthenticated")


@pytest.mark.parametrize("body", [
    {"jwt": [{"key": "k", "algorithm": "HS256", "secret": "short"}]},
    {"jwt": [{"key": "k", "algorithm": "RS256", "public_key": "not a pem"}]},
    {"jwt": [{"key": "k", "algorithm": "RS256", "secret": SECRET}]},
    {"jwt": [{"key": "k", "algorithm": "ES256", "secret": SECRET}]},
    {"jwt": [{"key": "k", "secret": SECRET}, {"key": "k", "secret": SECRET}]},
    {"jwt": [{"key": "k", "jwks_url": "ftp://x/jwks"}]},
    {"colour": "blue"},
])
def test_bad_consumers_are_400(server, body):
    assert_error(server.admin.post(CONSUMERS, json={"name": unique("c"), **body}), 400, "bad_request")
