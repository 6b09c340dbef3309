"""`aimass search …` on the Debian FAQ: create, add, query with facets, evaluate, remove."""
from __future__ import annotations

import json

from conftest import unique
from search_helpers import debian_faq
from test_cli import admin_cli, cli  # noqa: F401  (fixtures)
from test_cli_mq import row_of


def test_search_from_the_command_line(admin_cli, tmp_path):
    name = unique("cliix")
    out = admin_cli.run("search", "create", name, "--field", "title:text:3", "--field", "body:text",
                        "--field", "chapter:keyword:facet").stdout
    assert f"Created index {name} (3 fields, en)" in out, out
    docs = tmp_path / "faq.jsonl"
    docs.write_text("\n".join(json.dumps(s) for s in debian_faq("en")) + "\n")
    assert "Indexed 148 documents (148 new, 0 replaced)" in admin_cli.run("search", "add", name, str(docs)).stdout
    assert row_of(admin_cli.run("search", "list").stdout, name)["DOCUMENTS"] == "148"

    out = admin_cli.run("search", "query", name, "kernel modules", "--facet", "chapter", "-n", "3").stdout
    assert "<em>" in out and "hits in" in out and "chapter:" in out and "10 (" in out, out
    answer = admin_cli.json("search", "query", name, "upgrade", "--filter", "chapter = 9", "-n", "50")
    assert answer["hits"] and all(h["document"]["chapter"] == "9" for h in answer["hits"])

    judgements = tmp_path / "judged.json"
    judgements.write_text(json.dumps({"queries": [{"id": "k", "q": "kernel", "judgements": {"10.1": 2, "10.2": 1}}]}))
    out = admin_cli.run("search", "evaluate", name, str(judgements), "-k", "5").stdout
    ndcg = row_of(out, "ndcg@5")
    assert 0 < float(ndcg["VALUE"]) <= 1 and "1 queries" in out, out

    assert "Deleted 1 documents" in admin_cli.run("search", "remove", name, "10.1", "nope").stdout
    assert admin_cli.json("search", "show", name)["documents"] == 147
    bad = admin_cli.run("search", "create", unique("cliix"), "--field", "oops", expect=1)
    assert "name:type" in bad.stderr
    admin_cli.run("search", "delete", name)
    assert name not in admin_cli.run("search", "list").stdout
