"""Directory artifacts: a model that is a tree of files, uploaded as a tar, stored one blob per
file, downloaded as a tar stream or file by file."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import pytest

import models
from conftest import assert_error, describe, unique

TAR = {"Content-Type": "application/x-tar"}


@pytest.fixture(scope="module")
def mlp(tmp_path_factory) -> bytes:
    return models.torchscript_mlp(tmp_path_factory.mktemp("tree") / "mlp.pt").read_bytes()


def make_tar(files: dict[str, bytes], modes: dict[str, int] | None = None,
             extra: list[tarfile.TarInfo] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = (modes or {}).get(name, 0o644)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info)
    return buf.getvalue()


def tree_files(mlp: bytes) -> dict[str, bytes]:
    return {
        "model.pt": mlp,
        "tokenizer.json": json.dumps({"vocab": ["a", "b", "c"]}).encode(),
        "config/labels.txt": b"setosa\nversicolor\nvirginica\n",
        "bin/preprocess.sh": b"#!/bin/sh\necho ok\n",
    }


def tree_digest(files: dict[str, bytes]) -> str:
    """The manifest as `sha256sum` prints it, paths in byte order, hashed."""
    lines = "".join(f"{hashlib.sha256(files[p]).hexdigest()}  {p}\n"
                    for p in sorted(files, key=lambda p: p.encode()))
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


def create_model(client) -> str:
    name = unique("tree")
    resp = client.post("/api/v1/models", json={"name": name})
    assert resp.status_code == 201, describe(resp)
    return name


def push_tar(client, model, body, framework="torchscript", metadata=None, headers=TAR):
    h = dict(headers)
    if metadata is not None:
        h["X-Model-Metadata"] = json.dumps(metadata)
    return client.post(f"/api/v1/models/{model}/versions?framework={framework}", data=body,
                       headers=h)


def version_count(client, model) -> int:
    resp = client.get(f"/api/v1/models/{model}/versions")
    assert resp.status_code == 200, describe(resp)
    return len(resp.json()["versions"])


def test_a_directory_is_validated_and_listed_with_a_sha256_per_file(server, mlp):
    files = tree_files(mlp)
    model = create_model(server.admin)
    resp = push_tar(server.admin, model, make_tar(files, {"bin/preprocess.sh": 0o755}))
    assert resp.status_code == 201, describe(resp)
    v = resp.json()
    assert v["status"] == "ready"
    assert v["artifact"] == {"kind": "directory", "entry": "model.pt"}
    assert [t["name"] for t in v["signature"]["inputs"]] == ["features"]  # from model.pt
    assert v["digest"] == tree_digest(files)
    assert v["size"] == sum(len(b) for b in files.values())

    listing = server.admin.get(f"/api/v1/models/{model}/versions/1/files")
    assert listing.status_code == 200, describe(listing)
    got = {f["path"]: f for f in listing.json()["files"]}
    assert sorted(got) == sorted(files)
    for path, data in files.items():
        assert got[path]["sha256"] == hashlib.sha256(data).hexdigest()
        assert got[path]["size"] == len(data)
    assert got["bin/preprocess.sh"]["executable"] and not got["model.pt"]["executable"]


def test_each_file_downloads_alone_with_its_sha256_and_range(server, mlp):
    files = tree_files(mlp)
    model = create_model(server.admin)
    assert push_tar(server.admin, model, make_tar(files)).status_code == 201
    for path, data in files.items():
        got = server.admin.get(f"/api/v1/models/{model}/versions/1/files/{path}")
        assert got.status_code == 200, describe(got)
        assert got.content == data
        assert got.headers["X-Content-Sha256"] == hashlib.sha256(data).hexdigest()
    part = server.admin.get(f"/api/v1/models/{model}/versions/1/files/model.pt",
                            headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == mlp[10:20]
    missing = server.admin.get(f"/api/v1/models/{model}/versions/1/files/nope.bin")
    assert_error(missing, 404, "not_found")
    sneaky = server.admin.get(f"/api/v1/models/{model}/versions/1/files/config/..%2F..%2Fetc%2Fpasswd")
    assert_error(sneaky, 400, "bad_request")


def test_the_whole_directory_downloads_as_the_same_tar_every_time(server, mlp):
    files = tree_files(mlp)
    model = create_model(server.admin)
    assert push_tar(server.admin, model, make_tar(files, {"bin/preprocess.sh": 0o755})).status_code == 201
    first = server.admin.get(f"/api/v1/models/{model}/versions/1/artifact")
    assert first.status_code == 200, describe(first)
    assert first.headers["Content-Type"] == "application/x-tar"
    assert "sha256:" + first.headers["X-Tree-Sha256"] == tree_digest(files)
    with tarfile.open(fileobj=io.BytesIO(first.content)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == sorted(files)
        for path, data in files.items():
            assert tar.extractfile(members[path]).read() == data
        assert members["bin/preprocess.sh"].mode & 0o111
        assert not members["model.pt"].mode & 0o111
    second = server.admin.get(f"/api/v1/models/{model}/versions/1/artifact")
    assert second.content == first.content
    # HEAD says what a GET would send (a chunked tar of unknown length), and sends no body.
    head = server.admin.head(f"/api/v1/models/{model}/versions/1/artifact")
    assert head.status_code == 200, describe(head)
    assert head.headers["Content-Type"] == "application/x-tar"
    assert head.headers["X-Tree-Sha256"] == first.headers["X-Tree-Sha256"]
    assert "Content-Length" not in head.headers and head.headers.get("Transfer-Encoding") == "chunked"
    assert head.content == b""
    assert server.admin.get(f"/api/v1/models/{model}/versions/1/artifact").content == first.content


def test_alias_routes_serve_the_tree_it_points_at(server, mlp):
    files = tree_files(mlp)
    model = create_model(server.admin)
    assert push_tar(server.admin, model, make_tar(files)).status_code == 201
    changed = dict(files, **{"config/labels.txt": b"cat\ndog\n"})
    assert push_tar(server.admin, model, make_tar(changed)).status_code == 201
    assert server.admin.put(f"/api/v1/models/{model}/aliases/staging", json={"version": 2}).status_code == 200
    listing = server.admin.get(f"/api/v1/models/{model}@staging/files").json()
    assert listing["version"] == 2 and listing["digest"] == tree_digest(changed)
    got = server.admin.get(f"/api/v1/models/{model}@staging/files/config/labels.txt")
    assert got.status_code == 200 and got.content == b"cat\ndog\n"
    tar_bytes = server.admin.get(f"/api/v1/models/{model}@staging/artifact").content
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        assert tar.extractfile("config/labels.txt").read() == b"cat\ndog\n"
    # Unchanged files are stored once for both versions.
    v1 = {f["path"]: f["sha256"] for f in server.admin.get(f"/api/v1/models/{model}/versions/1/files").json()["files"]}
    v2 = {f["path"]: f["sha256"] for f in listing["files"]}
    assert v1["model.pt"] == v2["model.pt"] and v1["config/labels.txt"] != v2["config/labels.txt"]
    blobs = server.data_dir / "blobs" / "objects"
    assert len(list(blobs.rglob(v1["model.pt"]))) == 1


def test_gzip_tar_and_multipart_tar_are_accepted(server, mlp):
    files = tree_files(mlp)
    model = create_model(server.admin)
    gz = gzip.compress(make_tar(files))
    resp = push_tar(server.admin, model, gz, headers={"Content-Type": "application/gzip"})
    assert resp.status_code == 201, describe(resp)
    assert resp.json()["digest"] == tree_digest(files)
    resp = server.admin.post(
        f"/api/v1/models/{model}/versions?framework=torchscript",
        files={"metadata": (None, json.dumps({"metrics": {"accuracy": 0.5}}), "application/json"),
               "file": ("model.tar", make_tar(files), "application/x-tar")})
    assert resp.status_code == 201, describe(resp)
    v = resp.json()
    assert v["artifact"]["kind"] == "directory" and v["metrics"] == {"accuracy": 0.5}


def test_a_file_version_lists_no_files_and_has_no_file_routes(server, mlp):
    model = create_model(server.admin)
    resp = push_tar(server.admin, model, mlp, headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 201 and resp.json()["artifact"] == {"kind": "file"}
    listing = server.admin.get(f"/api/v1/models/{model}/versions/1/files").json()
    assert listing["kind"] == "file" and listing["files"] == []
    assert_error(server.admin.get(f"/api/v1/models/{model}/versions/1/files/model.pt"), 404, "not_found")


def symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info


@pytest.mark.parametrize("case", ["dotdot", "absolute", "symlink", "hardlink", "not_tar",
                                  "truncated", "empty", "twice", "device"])
def test_malformed_or_tricky_archives_are_400_and_create_nothing(server, mlp, case):
    files = {"model.pt": mlp}
    if case == "dotdot":
        body = make_tar(dict(files, **{"config/../../evil.txt": b"x"}))
    elif case == "absolute":
        body = make_tar(dict(files, **{"/etc/evil": b"x"}))
    elif case == "symlink":
        body = make_tar(files, extra=[symlink("passwd", "/etc/passwd")])
    elif case == "hardlink":
        link = tarfile.TarInfo("copy.pt")
        link.type = tarfile.LNKTYPE
        link.linkname = "model.pt"
        body = make_tar(files, extra=[link])
    elif case == "device":
        dev = tarfile.TarInfo("null")
        dev.type = tarfile.CHRTYPE
        body = make_tar(files, extra=[dev])
    elif case == "not_tar":
        body = mlp
    elif case == "truncated":
        body = make_tar(dict(files, **{"big.bin": b"z" * 100_000}))[:60_000]
    elif case == "empty":
        body = make_tar({})
    else:  # the same path twice
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for data in (mlp, b"other"):
                info = tarfile.TarInfo("./model.pt")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        body = buf.getvalue()
    model = create_model(server.admin)
    resp = push_tar(server.admin, model, body)
    assert_error(resp, 400, "bad_request")
    assert "/tmp" not in resp.text and str(server.data_dir) not in resp.text
    assert version_count(server.admin, model) == 0
    assert not list((server.data_dir / "blobs" / "tmp").glob("tree-*"))


def test_the_entry_file_is_chosen_or_named(server, mlp):
    model = create_model(server.admin)
    two = make_tar({"a.pt": mlp, "b.pt": mlp})
    resp = push_tar(server.admin, model, two)
    assert_error(resp, 400, "bad_request")
    assert "entry" in resp.json()["error"]["message"]
    resp = push_tar(server.admin, model, two, metadata={"entry": "b.pt"})
    assert resp.status_code == 201, describe(resp)
    assert resp.json()["artifact"]["entry"] == "b.pt"
    assert_error(push_tar(server.admin, model, two, metadata={"entry": "c.pt"}), 400, "bad_request")
    assert_error(push_tar(server.admin, model, make_tar({"README.md": b"# hi"})), 400, "bad_request")
    nested = push_tar(server.admin, model, make_tar({"weights/net.pt": mlp, "README.md": b"# hi"}))
    assert nested.status_code == 201 and nested.json()["artifact"]["entry"] == "weights/net.pt"


def test_a_corrupt_entry_file_fails_the_version_with_a_reason(server, mlp):
    model = create_model(server.admin)
    resp = push_tar(server.admin, model, make_tar({"model.pt": mlp[: len(mlp) // 2], "x.txt": b"x"}))
    assert_error(resp, 422, "unprocessable")
    v = resp.json()["error"]["version"]
    assert v["status"] == "failed" and v["status_reason"]
    assert_error(server.admin.get(f"/api/v1/models/{model}/versions/1/artifact"), 409, "conflict")


def test_archive_limits_are_enforced(make_server, mlp):
    srv = make_server("--set", "registry.max_archive_files=3", "--set",
                      "registry.max_unpacked_bytes=1000000")
    model = create_model(srv.admin)
    four = make_tar({"model.pt": mlp, "a": b"a", "b": b"b", "c": b"c"})
    assert_error(push_tar(srv.admin, model, four), 400, "bad_request")
    bomb = gzip.compress(make_tar({"model.pt": mlp, "zeros.bin": bytes(5_000_000)}))
    assert len(bomb) < 100_000
    assert_error(push_tar(srv.admin, model, bomb, headers={"Content-Type": "application/gzip"}),
                 413, "payload_too_large")
    assert version_count(srv.admin, model) == 0


def test_gc_keeps_files_a_live_tree_still_uses(server, mlp):
    files = tree_files(mlp)
    model = create_model(server.admin)
    assert push_tar(server.admin, model, make_tar(files)).status_code == 201
    only_in_2 = b"only in version 2\n"
    assert push_tar(server.admin, model, make_tar(dict(files, **{"extra.txt": only_in_2}))).status_code == 201
    assert server.admin.delete(f"/api/v1/models/{model}/versions/2").status_code == 204
    assert server.admin.post("/api/v1/blobs/gc", json={"grace_s": 0}).status_code == 200
    blobs = server.data_dir / "blobs" / "objects"
    assert not list(blobs.rglob(hashlib.sha256(only_in_2).hexdigest()))
    for data in files.values():
        assert list(blobs.rglob(hashlib.sha256(data).hexdigest()))
    got = server.admin.get(f"/api/v1/models/{model}/versions/1/artifact")
    with tarfile.open(fileobj=io.BytesIO(got.content)) as tar:
        assert tar.extractfile("model.pt").read() == mlp


def test_a_viewer_can_read_a_tree_but_not_push_one(server, mlp):
    files = tree_files(mlp)
    model = create_model(server.admin)
    assert push_tar(server.admin, model, make_tar(files)).status_code == 201
    viewer = server.create_user(["viewer"]).client
    assert viewer.get(f"/api/v1/models/{model}/versions/1/files/tokenizer.json").content == files["tokenizer.json"]
    assert_error(push_tar(viewer, model, make_tar(files)), 403, "forbidden")
