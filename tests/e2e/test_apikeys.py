"""API keys: creation, listing without secrets, authentication and revocation."""

import pytest

from conftest import assert_error, describe, unique

APIKEYS = "/api/v1/apikeys"
WHOAMI = "/api/v1/auth/whoami"


def create_key(client, name=None):
    resp = client.post(APIKEYS, json={"name": name or unique("key")})
    assert resp.status_code == 201, describe(resp)
    return resp.json()


@pytest.fixture(scope="module")
def viewer(server):
    return server.create_user(["viewer"], prefix="keyowner")


def test_created_key_is_shown_once_and_starts_with_amk(server):
    name = unique("ci")
    resp = server.admin.post(APIKEYS, json={"name": name})
    assert resp.status_code == 201, describe(resp)
    key = resp.json()
    assert {"id", "name", "key", "prefix", "created_at", "expires_at"} <= set(key)
    assert key["name"] == name
    assert key["key"].startswith("amk_")
    assert len(key["key"]) >= 24, "the secret must carry real entropy"
    assert key["key"].startswith(key["prefix"]) and key["prefix"] != key["key"]


def test_two_keys_have_different_ids_and_secrets(server):
    a, b = create_key(server.admin), create_key(server.admin)
    assert a["id"] != b["id"]
    assert a["key"] != b["key"]


def test_list_never_contains_the_secret(server):
    key = create_key(server.admin)
    resp = server.admin.get(APIKEYS)
    assert resp.status_code == 200
    listed = {k["id"]: k for k in resp.json()["apikeys"]}
    assert key["id"] in listed
    assert listed[key["id"]]["prefix"] == key["prefix"]
    assert listed[key["id"]]["owner"] == "admin"
    assert listed[key["id"]]["revoked"] is False
    assert key["key"] not in resp.text
    assert all("key" not in k for k in listed.values())


def test_key_authenticates_as_its_owner(server):
    key = create_key(server.admin)
    resp = server.client(key["key"]).get(WHOAMI)
    assert resp.status_code == 200, describe(resp)
    assert resp.json()["username"] == "admin"
    assert resp.json()["auth"] == "apikey"
    assert "admin" in resp.json()["roles"]


def test_use_of_a_key_is_recorded(server):
    key = create_key(server.admin)
    assert server.client(key["key"]).get(WHOAMI).status_code == 200
    listed = {k["id"]: k for k in server.admin.get(APIKEYS).json()["apikeys"]}
    assert listed[key["id"]]["last_used_at"]


def test_revoked_key_no_longer_authenticates(server):
    key = create_key(server.admin)
    as_key = server.client(key["key"])
    assert as_key.get(WHOAMI).status_code == 200

    resp = server.admin.delete(f"{APIKEYS}/{key['id']}")
    assert resp.status_code == 204, describe(resp)

    assert_error(as_key.get(WHOAMI), 401, "unauthenticated")
    listed = {k["id"]: k for k in server.admin.get(APIKEYS).json()["apikeys"]}
    if key["id"] in listed:
        assert listed[key["id"]]["revoked"] is True


def test_unknown_key_is_401(server):
    key = create_key(server.admin)
    forged = key["key"][:-4] + ("0000" if not key["key"].endswith("0000") else "1111")
    assert_error(server.client(forged).get(WHOAMI), 401, "unauthenticated")
    assert_error(server.client("amk_doesnotexist").get(WHOAMI), 401, "unauthenticated")


def test_revoking_an_unknown_key_is_404(server):
    assert_error(server.admin.delete(f"{APIKEYS}/nosuchkey"), 404, "not_found")


def test_viewer_manages_own_keys_which_act_with_viewer_roles(server, viewer):
    key = create_key(viewer.client)
    as_key = server.client(key["key"])
    me = as_key.get(WHOAMI).json()
    assert me["username"] == viewer.username and me["roles"] == ["viewer"]
    assert_error(as_key.post("/api/v1/users", json={
        "username": unique("viakey"), "password": "Secret-123456!", "roles": ["admin"]}),
        403, "forbidden")

    listed = viewer.client.get(APIKEYS)
    assert listed.status_code == 200
    assert key["id"] in {k["id"] for k in listed.json()["apikeys"]}

    assert viewer.client.delete(f"{APIKEYS}/{key['id']}").status_code == 204
    assert_error(as_key.get(WHOAMI), 401, "unauthenticated")


def test_viewer_cannot_revoke_someone_elses_key(server, viewer):
    key = create_key(server.admin)
    resp = viewer.client.delete(f"{APIKEYS}/{key['id']}")
    assert_error(resp, (403, 404))
    assert server.client(key["key"]).get(WHOAMI).status_code == 200


def test_without_users_read_only_own_keys_are_listed(server):
    role = server.create_role(["apikeys:read", "apikeys:write"], prefix="keysonly")
    owner = server.create_user([role], prefix="keysonly")
    own = create_key(owner.client)
    create_key(server.admin)
    resp = owner.client.get(APIKEYS)
    assert resp.status_code == 200, describe(resp)
    keys = resp.json()["apikeys"]
    assert {k["owner"] for k in keys} == {owner.username}
    assert own["id"] in {k["id"] for k in keys}


def test_admin_sees_every_users_keys(server, viewer):
    key = create_key(viewer.client)
    listed = {k["id"]: k for k in server.admin.get(APIKEYS).json()["apikeys"]}
    assert key["id"] in listed and listed[key["id"]]["owner"] == viewer.username


def test_creating_a_key_needs_a_token(server):
    assert_error(server.anonymous.post(APIKEYS, json={"name": "anon"}), 401, "unauthenticated")
