"""Helpers shared by the dataset tests (test_datasets.py, test_faults.py): create, upload, wait."""
from __future__ import annotations

import csv
import io
import time

from conftest import describe, unique, wait_for
from online_retail import shared_data  # noqa: F401  (the tests import it from here)

CSV = {"Content-Type": "text/csv"}


def retail_path():
    return shared_data("online-retail/online_retail.csv.gz")


def create_dataset(client, name: str | None = None, **fields) -> str:
    name = name or unique("ds")
    resp = client.post("/api/v1/datasets", json={"name": name, **fields})
    assert resp.status_code == 201, describe(resp)
    return name


def push(client, name: str, body: bytes, content_type: str = "text/csv", status=(200, 201), **kwargs):
    headers = {"Content-Type": content_type, **kwargs.pop("headers", {})}
    resp = client.post(f"/api/v1/datasets/{name}/versions", data=body, headers=headers, **kwargs)
    assert resp.status_code in ((status,) if isinstance(status, int) else status), describe(resp)
    return resp.json()


def version(client, name: str, ref) -> dict:
    resp = client.get(f"/api/v1/datasets/{name}/versions/{ref}")
    assert resp.status_code == 200, describe(resp)
    return resp.json()


def wait_ready(client, name: str, ref, timeout: float = 60.0) -> dict:
    return wait_for(lambda: (v := version(client, name, ref))["status"] != "building" and v, timeout,
                    f"dataset {name} version {ref} to be profiled")


def upload_table(client, header, rows, name: str | None = None) -> str:
    """A new table dataset with one version of these rows (written as CSV), ready to read."""
    name = create_dataset(client, name)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(header)
    w.writerows(rows)
    push(client, name, out.getvalue().encode())
    wait_ready(client, name, 1)
    return name
