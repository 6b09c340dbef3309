"""Users, roles and role-based access control."""

import pytest

from conftest import assert_error, describe, strong_password, unique

USERS = "/api/v1/users"
ROLES = "/api/v1/roles"
BUILTIN_ROLES = ["admin", "developer", "viewer"]


@pytest.fixture(scope="module")
def viewer(server):
    return server.create_user(["viewer"], prefix="viewer")


def user_exists(server, username):
    resp = server.admin.get(f"{USERS}/{username}")
    assert resp.status_code in (200, 404), describe(resp)
    return resp.status_code == 200


def new_user_body(roles=("viewer",)):
    return {"username": unique("user"), "password": strong_password(), "roles": list(roles)}


def test_admin_creates_a_viewer(server):
    body = new_user_body(["viewer"])
    resp = server.admin.post(USERS, json=body)
    assert resp.status_code == 201, describe(resp)
    created = resp.json()
    assert created["username"] == body["username"]
    assert created["roles"] == ["viewer"]
    assert "password" not in created and body["password"] not in resp.text

    fetched = server.admin.get(f"{USERS}/{body['username']}")
    assert fetched.status_code == 200
    assert fetched.json()["username"] == body["username"]
    assert fetched.json()["roles"] == ["viewer"]


def test_user_list_contains_created_users_and_no_secrets(server, viewer):
    resp = server.admin.get(USERS)
    assert resp.status_code == 200
    users = {u["username"]: u for u in resp.json()["users"]}
    assert "admin" in users and viewer.username in users
    assert users[viewer.username]["roles"] == ["viewer"]
    assert viewer.password not in resp.text
    assert "password" not in resp.text.lower()


def test_user_list_pages_cover_every_user_once(server):
    for _ in range(3):
        server.create_user(["viewer"], prefix="pager")
    expected = {u["username"] for u in server.admin.get(USERS, params={"page_size": 1000}).json()["users"]}

    seen, token = [], ""
    for _ in range(len(expected) + 2):
        params = {"page_size": 2}
        if token:
            params["page_token"] = token
        page = server.admin.get(USERS, params=params)
        assert page.status_code == 200, describe(page)
        users = page.json()["users"]
        assert len(users) <= 2
        seen += [u["username"] for u in users]
        token = page.json().get("next_page_token") or ""
        if not token:
            break
    assert not token, "pagination did not terminate"
    assert len(seen) == len(set(seen)), "a user appeared on two pages"
    assert set(seen) == expected


def test_viewer_can_log_in_and_see_itself(server, viewer):
    resp = viewer.client.get("/api/v1/auth/whoami")
    assert resp.status_code == 200
    assert resp.json()["username"] == viewer.username
    assert resp.json()["roles"] == ["viewer"]


def test_viewer_cannot_create_users(server, viewer):
    body = new_user_body()
    assert_error(viewer.client.post(USERS, json=body), 403, "forbidden")
    assert not user_exists(server, body["username"])


def test_viewer_cannot_grant_itself_admin(server, viewer):
    resp = viewer.client.patch(f"{USERS}/{viewer.username}", json={"roles": ["admin"]})
    assert_error(resp, 403, "forbidden")
    assert server.admin.get(f"{USERS}/{viewer.username}").json()["roles"] == ["viewer"]


def test_viewer_cannot_delete_users(server, viewer):
    other = server.create_user(["viewer"], prefix="victim")
    assert_error(viewer.client.delete(f"{USERS}/{other.username}"), 403, "forbidden")
    assert user_exists(server, other.username)


def test_viewer_cannot_create_roles(server, viewer):
    resp = viewer.client.post(ROLES, json={"name": unique("sneaky"), "permissions": ["*:*"]})
    assert_error(resp, 403, "forbidden")


def test_creating_an_existing_user_is_409(server, viewer):
    body = {"username": viewer.username, "password": strong_password(), "roles": ["admin"]}
    assert_error(server.admin.post(USERS, json=body), 409, "conflict")
    assert server.admin.get(f"{USERS}/{viewer.username}").json()["roles"] == ["viewer"]
    assert server.login(viewer.username, viewer.password), "the original password still works"


def test_creating_a_user_with_an_unknown_role_is_400(server):
    body = new_user_body(["no-such-role"])
    assert_error(server.admin.post(USERS, json=body), 400, "bad_request")
    assert not user_exists(server, body["username"])


def test_unknown_user_is_404(server):
    assert_error(server.admin.get(f"{USERS}/nosuchuser"), 404, "not_found")


def test_custom_role_grants_exactly_its_permissions(server):
    role = server.create_role(["users:read"], prefix="reader")
    fetched = server.admin.get(f"{ROLES}/{role}")
    assert fetched.status_code == 200
    assert fetched.json()["permissions"] == ["users:read"]
    assert fetched.json()["builtin"] is False

    reader = server.create_user([role], prefix="reader")
    assert reader.client.get(USERS).status_code == 200
    body = new_user_body()
    assert_error(reader.client.post(USERS, json=body), 403, "forbidden")
    assert not user_exists(server, body["username"])
    assert_error(reader.client.get("/api/v1/audit"), 403, "forbidden")


def test_changing_a_role_changes_what_its_users_may_do(server):
    role = server.create_role(["users:read"], prefix="mutable")
    member = server.create_user([role], prefix="member")
    assert member.client.get(USERS).status_code == 200

    resp = server.admin.put(f"{ROLES}/{role}", json={"permissions": ["roles:read"]})
    assert resp.status_code == 200, describe(resp)
    assert server.admin.get(f"{ROLES}/{role}").json()["permissions"] == ["roles:read"]
    # At once, for the token already in use too (permissions are not frozen into tokens).
    assert_error(member.client.get(USERS), 403, "forbidden")
    relogged = server.client(server.login(member.username, member.password))
    assert_error(relogged.get(USERS), 403, "forbidden")
    assert relogged.get(ROLES).status_code == 200


def test_deleted_user_can_no_longer_log_in(server):
    user = server.create_user(["viewer"], prefix="doomed")
    resp = server.admin.delete(f"{USERS}/{user.username}")
    assert resp.status_code == 204, describe(resp)
    assert not resp.content

    assert_error(server.login_response(user.username, user.password), 401, "unauthenticated")
    assert_error(user.client.get("/api/v1/auth/whoami"), 401, "unauthenticated")
    assert not user_exists(server, user.username)
    assert_error(server.admin.delete(f"{USERS}/{user.username}"), 404, "not_found")


def test_patch_changes_the_password(server):
    user = server.create_user(["viewer"], prefix="patched")
    new_password = strong_password()
    resp = server.admin.patch(f"{USERS}/{user.username}", json={"password": new_password})
    assert resp.status_code == 200, describe(resp)
    assert_error(server.login_response(user.username, user.password), 401, "unauthenticated")
    assert server.login(user.username, new_password)


def test_roles_list_contains_the_builtin_roles(server):
    resp = server.admin.get(ROLES)
    assert resp.status_code == 200
    roles = {r["name"]: r for r in resp.json()["roles"]}
    for name in BUILTIN_ROLES:
        assert roles[name]["builtin"] is True
    assert "*:*" in roles["admin"]["permissions"]


@pytest.mark.parametrize("role", BUILTIN_ROLES)
def test_builtin_roles_cannot_be_deleted(server, role):
    assert_error(server.admin.delete(f"{ROLES}/{role}"), 409, "conflict")
    assert server.admin.get(f"{ROLES}/{role}").status_code == 200


def test_builtin_roles_cannot_be_changed(server):
    resp = server.admin.put(f"{ROLES}/viewer", json={"permissions": ["*:*"]})
    assert_error(resp, 409, "conflict")
    assert "*:*" not in server.admin.get(f"{ROLES}/viewer").json()["permissions"]


def test_a_role_in_use_cannot_be_deleted(server):
    role = server.create_role(["users:read"], prefix="inuse")
    server.create_user([role], prefix="holder")
    assert_error(server.admin.delete(f"{ROLES}/{role}"), 409, "conflict")
    assert server.admin.get(f"{ROLES}/{role}").status_code == 200


def test_an_unused_custom_role_can_be_deleted(server):
    role = server.create_role(["users:read"], prefix="unused")
    assert server.admin.delete(f"{ROLES}/{role}").status_code == 204
    assert_error(server.admin.get(f"{ROLES}/{role}"), 404, "not_found")


def test_creating_an_existing_role_is_409(server):
    role = server.create_role(["users:read"], prefix="twice")
    resp = server.admin.post(ROLES, json={"name": role, "permissions": ["*:*"]})
    assert_error(resp, 409, "conflict")
    assert server.admin.get(f"{ROLES}/{role}").json()["permissions"] == ["users:read"]
