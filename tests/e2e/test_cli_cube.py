"""`aimass cube …`: a cube created from a file over a dataset uploaded here (and waited for),
listed, queried with flags (measures, levels, filters, totals, order) and in SQL, its anomalies
and a change explained, its views listed, and bad input refused with a clear message."""
from __future__ import annotations

import json
import random

from conftest import unique
from datasets_helpers import create_dataset, push, wait_ready
from test_cli import admin_cli, cli  # noqa: F401  (fixtures)
from test_cli_mq import row_of, table


def shop_csv() -> tuple[str, dict]:
    """Sixty days of sales of three shops; shop c sells ten times its usual on 2024-02-14."""
    rng = random.Random(3)
    lines, per_shop = ["day,shop,amount"], {"a": 0, "b": 0, "c": 0}
    for d in range(60):
        day = f"2024-{1 + d // 31:02d}-{1 + d % 31:02d}"
        for shop in "abc":
            amount = rng.randrange(90, 110) * (10 if (shop == "c" and day == "2024-02-14") else 1)
            lines.append(f"{day},{shop},{amount}")
            per_shop[shop] += amount
    return "\n".join(lines) + "\n", per_shop


def test_cube_from_the_command_line(admin_cli, server, tmp_path):
    a = server.admin
    ds = create_dataset(a)
    text, per_shop = shop_csv()
    push(a, ds, text.encode(), status=201)
    wait_ready(a, ds, 1)
    name = unique("cli-shops").replace(".", "-").lower()
    (tmp_path / "cube.json").write_text(json.dumps({
        "name": name, "source": {"dataset": ds},
        "dimensions": [{"name": "shop", "column": "shop"}, {"name": "day", "column": "day", "type": "time"}],
        "measures": [{"name": "amount", "column": "amount", "agg": "sum"}, {"name": "sales", "agg": "count"}]}))
    out = admin_cli.run("cube", "create", str(tmp_path / "cube.json"), timeout=120).stdout
    assert f"Cube {name} built: 180 rows" in out, out
    row = row_of(admin_cli.run("cube", "list").stdout, name)
    assert row["STATE"] == "ready" and row["ROWS"] == "180" and row["DATASET"] == ds, row

    out = admin_cli.run("cube", "query", name, "-m", "amount", "-m", "sales", "-d", "shop", "--totals", "rollup",
                        "--order", "-amount").stdout
    header, rows = table(out.rsplit("\n", 2)[0])
    assert header == ["shop", "amount", "sales"]
    want = sorted(per_shop.items(), key=lambda kv: -kv[1])
    assert rows[0] == ["(total)", str(sum(per_shop.values())), "180"]  # the largest amount first
    assert [r[0] for r in rows[1:]] == [w[0] for w in want] and [r[1] for r in rows[1:]] == [str(w[1]) for w in want]
    answer = admin_cli.json("cube", "query", name, "-m", "amount", "-d", "day.month", "-f", "shop in a,b", "-f", "day>=2024-02-01")
    assert [(r["day.month"], r["amount"]) for r in answer["rows"]] == [("2024-02", answer["rows"][0]["amount"])]
    sql = admin_cli.json("cube", "sql", f"SELECT shop, amount FROM \"{name}\" WHERE shop = 'c'")
    assert sql["rows"] == [{"shop": "c", "amount": per_shop["c"]}]

    out = admin_cli.run("cube", "anomalies", name, "--measure", "amount", "-f", "shop=c").stdout
    assert table(out.rsplit("\n", 2)[0])[1][0][0] == "2024-02-14", out
    out = admin_cli.run("cube", "explain", name, "--measure", "amount", "--level", "day.day", "--from", "2024-02-13",
                        "--to", "2024-02-14").stdout
    assert table(out.split("\n", 1)[1])[1][0][:2] == ["shop", "c"], out
    assert "NAME" in admin_cli.run("cube", "views", name).stdout

    bad = admin_cli.run("cube", "query", name, "-m", "amount", "-f", "shop ~ a", expect=None)
    assert bad.returncode != 0 and "a filter is" in bad.stderr
    bad = admin_cli.run("cube", "query", name, "-m", "nothing", expect=None)
    assert bad.returncode != 0 and "'nothing' is not a measure" in bad.stderr
    (tmp_path / "bad.json").write_text("[1]")
    assert admin_cli.run("cube", "create", str(tmp_path / "bad.json"), expect=None).returncode != 0
    assert admin_cli.run("cube", "delete", name).returncode == 0
    assert name not in admin_cli.run("cube", "list").stdout
