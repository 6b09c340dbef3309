"""A server configured for RS256 signs with its private key, and rejects the classic alg swap:
an HS256 token whose HMAC key is the server's public key."""

import hashlib
import hmac
import json
import subprocess

import pytest

from conftest import assert_error, b64url, b64url_decode

WHOAMI = "/api/v1/auth/whoami"


@pytest.fixture(scope="module")
def keypair(tmp_path_factory):
    d = tmp_path_factory.mktemp("rsa")
    priv, pub = d / "priv.pem", d / "pub.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", str(priv)], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(priv), "-pubout", "-out", str(pub)],
                   check=True, capture_output=True)
    return priv, pub


@pytest.fixture
def rs_server(make_server, keypair):
    priv, pub = keypair
    return make_server("--set", "auth.jwt_algorithm=RS256",
                       "--set", f"auth.jwt_private_key_file={priv}",
                       "--set", f"auth.jwt_public_key_file={pub}")


def test_rs256_login_token_is_rs256_and_works(rs_server):
    token = rs_server.admin_token
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert header["alg"] == "RS256"
    resp = rs_server.admin.get(WHOAMI)
    assert resp.status_code == 200
    assert resp.json()["username"] == "admin"


def test_alg_swap_hs256_signed_with_public_key_is_401(rs_server, keypair):
    _, pub = keypair
    payload_b64 = rs_server.admin_token.split(".")[1]
    header_b64 = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{header_b64}.{payload_b64}".encode()
    sig = hmac.new(pub.read_bytes(), signing_input, hashlib.sha256).digest()
    forged = f"{header_b64}.{payload_b64}.{b64url(sig)}"
    assert_error(rs_server.client(forged).get(WHOAMI), 401, "unauthenticated")


def test_token_signed_by_another_key_is_401(rs_server, tmp_path):
    other = tmp_path / "other.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", str(other)], check=True, capture_output=True)
    header_b64, payload_b64, _ = rs_server.admin_token.split(".")
    signing_input = f"{header_b64}.{payload_b64}".encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(other)], input=signing_input,
                         check=True, capture_output=True).stdout
    forged = f"{header_b64}.{payload_b64}.{b64url(sig)}"
    assert_error(rs_server.client(forged).get(WHOAMI), 401, "unauthenticated")


def test_rs256_without_key_files_refuses_to_start(aimass_bin, tmp_path):
    proc = subprocess.run([str(aimass_bin), "server", "--listen", "127.0.0.1:0",
                           "--data-dir", str(tmp_path / "d"), "--set", "auth.jwt_algorithm=RS256"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "RS256" in proc.stderr


def test_node_with_only_the_public_key_cannot_issue_tokens(make_server, keypair):
    _, pub = keypair
    srv = make_server("--set", "auth.jwt_algorithm=RS256",
                      "--set", f"auth.jwt_public_key_file={pub}")
    resp = srv.login_response("admin", "whatever-password")
    # Wrong password is still 401; the right one reaches the signer, which has no key.
    assert resp.status_code == 401
    from conftest import ADMIN_PASSWORD
    assert_error(srv.login_response("admin", ADMIN_PASSWORD), 503, "unavailable")
