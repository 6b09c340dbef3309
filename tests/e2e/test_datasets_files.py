"""Files datasets, black-box: a tar of real images (Fashion-MNIST's test set from Debian's
dataset-fashion-mnist, written out as PGM files) becomes a version whose table is its manifest;
files download byte for byte, the whole version as a tar; appends replace and add files;
identical tars are one version; unsafe archives are refused."""
from __future__ import annotations

import gzip
import hashlib
import io
import struct
import tarfile
from pathlib import Path

import pytest

from conftest import assert_error, describe
from datasets_helpers import create_dataset, push, version, wait_ready

BASE = "/api/v1/datasets"
MNIST = Path("/usr/share/datasets/fashion-mnist")
TAR = "application/x-tar"
CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def fashion_images(count: int, start: int = 0) -> dict[str, bytes]:
    """`count` test images as binary PGM files under <class>/<index>.pgm."""
    images = gzip.decompress((MNIST / "t10k-images-idx3-ubyte.gz").read_bytes())
    labels = gzip.decompress((MNIST / "t10k-labels-idx1-ubyte.gz").read_bytes())
    magic, n, rows, cols = struct.unpack(">IIII", images[:16])
    assert magic == 2051 and n == 10000 and (rows, cols) == (28, 28)
    out = {}
    for i in range(start, start + count):
        pixels = images[16 + i * 784: 16 + (i + 1) * 784]
        out[f"{CLASSES[labels[8 + i]]}/{i:05d}.pgm"] = b"P5\n28 28\n255\n" + pixels
    return out


def tar_of(files: dict[str, bytes], gz: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as t:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def images() -> dict[str, bytes]:
    files = fashion_images(200)
    files["README.txt"] = b"Fashion-MNIST test images 0-199 (MIT licence, Zalando Research)\n"
    return files


def test_a_tar_of_images_is_a_version_of_files(server, images):
    c = server.admin
    name = create_dataset(c, kind="files")
    v = push(c, name, tar_of(images, gz=True), TAR, status=201)
    assert v["row_count"] == len(images) and v["source"]["format"] == "tar"
    assert [(s["name"], s["type"]) for s in v["schema"]] == [
        ("path", "string"), ("size", "integer"), ("media_type", "categorical"), ("digest", "string")]
    wait_ready(c, name, 1)
    rows = c.get(f"{BASE}/{name}/versions/1/rows", params={"limit": 1000}).json()["rows"]
    assert [r["path"] for r in rows] == sorted(images)
    for r in rows:
        data = images[r["path"]]
        assert r["size"] == len(data) and r["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
    # Each file downloads byte for byte, with its media type.
    for path in ("README.txt", next(p for p in images if p.startswith("bag/"))):
        resp = c.get(f"{BASE}/{name}/versions/latest/files/{path}")
        assert resp.status_code == 200 and resp.content == images[path], describe(resp)
    resp = c.get(f"{BASE}/{name}/versions/1/files/README.txt")
    assert resp.headers["Content-Type"].startswith("text/plain")
    pgm = next(p for p in sorted(images) if p.endswith(".pgm"))
    assert c.get(f"{BASE}/{name}/versions/1/files/{pgm}").headers["Content-Type"] == "image/x-portable-graymap"
    assert_error(c.get(f"{BASE}/{name}/versions/1/files/nope.png"), 404, "not_found")
    # The profile of the manifest counts the kinds of file.
    p = c.get(f"{BASE}/{name}/versions/1/profile").json()
    media = next(col for col in p["columns"] if col["name"] == "media_type")
    assert media["top"] == [{"value": "image/x-portable-graymap", "count": 200}, {"value": "text/plain", "count": 1}]
    size = next(col for col in p["columns"] if col["name"] == "size")
    assert size["max"] == 784 + len(b"P5\n28 28\n255\n")
    # The whole version as a tar: the same files.
    resp = c.get(f"{BASE}/{name}/versions/1/download", params={"format": "tar"})
    assert resp.status_code == 200, describe(resp)
    with tarfile.open(fileobj=io.BytesIO(resp.content)) as t:
        got = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
    assert got == images
    manifest = c.get(f"{BASE}/{name}/versions/1/download", params={"format": "csv"}).text.splitlines()
    assert manifest[0] == "path,size,media_type,digest" and len(manifest) == len(images) + 1


def test_appends_identical_tars_and_refusals(server, images):
    c = server.admin
    name = create_dataset(c, kind="files")
    push(c, name, tar_of(images), TAR, status=201)
    # The same files again (even compressed differently) are the same version.
    assert push(c, name, tar_of(images, gz=True), TAR, status=200)["version"] == 1
    wait_ready(c, name, 1)
    more = fashion_images(50, start=200)
    more["README.txt"] = b"Fashion-MNIST test images 0-249\n"
    v2 = push(c, name, tar_of(more), TAR, params={"append": "latest"}, status=201)
    assert v2["parent"] == 1 and v2["row_count"] == len(images) + 50
    assert c.get(f"{BASE}/{name}/versions/2/files/README.txt").content == more["README.txt"]
    assert c.get(f"{BASE}/{name}/versions/1/files/README.txt").content == images["README.txt"]
    # Expectations run on the manifest.
    suite = {"expectations": [{"expectation_type": "expect_column_values_to_be_in_set",
                               "kwargs": {"column": "media_type", "value_set": ["image/x-portable-graymap"]}}]}
    assert c.put(f"{BASE}/{name}/expectations", json=suite).status_code == 200
    again = c.post(f"{BASE}/{name}/versions/2/validate").json()
    result = again["validation_result"]["results"][0]["result"]
    assert again["validation"] == "failed" and result["partial_unexpected_list"] == ["text/plain"]

    def bad_tar(kind: str) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            info = tarfile.TarInfo("../escape.txt" if kind == "dots" else "link")
            if kind == "link":
                info.type = tarfile.SYMTYPE
                info.linkname = "/etc/passwd"
            else:
                info.size = 1
            t.addfile(info, io.BytesIO(b"x") if kind == "dots" else None)
        return buf.getvalue()
    for body in (bad_tar("dots"), bad_tar("link"), b"not a tar at all"):
        assert_error(c.post(f"{BASE}/{name}/versions", data=body, headers={"Content-Type": TAR}), 400, "bad_request")
    assert_error(c.post(f"{BASE}/{name}/versions", data=b"a\n1\n", headers={"Content-Type": "text/csv"}), 400, "bad_request")
    table = create_dataset(c)
    assert_error(c.post(f"{BASE}/{table}/versions", data=tar_of(images), headers={"Content-Type": TAR}), 400, "bad_request")
    assert_error(c.get(f"{BASE}/{table}/versions/1/download", params={"format": "tar"}), 404, "not_found")
    assert [v["version"] for v in c.get(f"{BASE}/{name}/versions").json()["versions"]] == [2, 1]
    assert version(c, name, 2)["status"] == "ready"
