// The cube pages in headless Chromium against a real aimass: a table dataset of
// 2,000 sales lines over 60 days (4 countries, 20 products in 4 families, made here from a seeded
// generator, with one day of a burst of orders) uploaded through the API; a cube over it created
// from its JSON on the list page and built; then, on the cube's page, by clicks: revenue by
// country as a table whose numbers are the sums computed here, as bars; by country and month
// with rollup totals; a drill into a month (to its weeks, with the filter and the drill path)
// from the table and from a bar, and back up; lines and a heatmap; a view saved, the page
// reloaded, the view opened; a filter whose values the members complete, and a pivot table;
// each month against the previous one; a SQL query with the JSON query it became; anomalies and
// the explanation of a change as the API answers them for the same request; a proposed
// pre-aggregation added from the Cube tab; the page at a phone's width. Screenshots:
// console/test-output/.
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, openPage, platformForTests, random } from "./harness.mjs";

const s = platformForTests();
const CUBE = "/api/v1/cubes/sales";
const DAY = 86400000;
const START = Date.UTC(2025, 0, 1);
const COUNTRIES = ["France", "Germany", "Italy", "Spain"];
const PRODUCTS = Array.from({ length: 20 }, (_, k) => `${"ABCD"[k % 4]}${String(k).padStart(2, "0")}`);
const SPIKE = "2025-02-10"; // the day of the burst

// 1,900 lines spread over the 60 days from 2025-01-01, then 100 more on SPIKE. Prices are
// quarters, so that every sum of quantity × price is exact in binary floating point.
function makeRows() {
  const r = random(11);
  const rows = [];
  const line = (ms) => ({
    ms,
    Country: COUNTRIES[Math.floor(r() * 4)],
    Product: PRODUCTS[Math.floor(r() * 20)],
    Quantity: 1 + Math.floor(r() * 10),
    Price: (1 + Math.floor(r() * 80)) / 4,
    Customer: `C${100 + Math.floor(r() * 150)}`,
  });
  for (let i = 0; i < 1900; i++) rows.push(line(START + Math.floor(r() * 60 * 86400) * 1000));
  for (let i = 0; i < 100; i++) rows.push(line(Date.parse(`${SPIKE}T00:00:00Z`) + Math.floor(r() * 86400) * 1000));
  for (const x of rows) {
    const iso = new Date(x.ms).toISOString();
    x.Date = iso.replace(".000Z", "Z");
    x.day = iso.slice(0, 10);
    x.month = iso.slice(0, 7);
    // Weeks are named by their Monday.
    const d = new Date(Date.parse(`${x.day}T00:00:00Z`));
    x.week = new Date(d.getTime() - ((d.getUTCDay() + 6) % 7) * DAY).toISOString().slice(0, 10);
    x.revenue = x.Quantity * x.Price;
  }
  return rows;
}
const ROWS = makeRows();
const CSV = `Date,Country,Product,Quantity,Price,Customer\n${ROWS.map((x) => `${x.Date},${x.Country},${x.Product},${x.Quantity},${x.Price},${x.Customer}`).join("\n")}\n`;

const CUBE_SPEC = {
  name: "sales",
  description: "Test sales",
  source: { dataset: "sales", version: "latest" },
  dimensions: [
    { name: "country", column: "Country", hierarchy: [{ name: "region", column: "Country", map: { France: "West", Spain: "West" }, default: "East" }] },
    { name: "time", column: "Date", type: "time" },
    { name: "product", column: "Product", hierarchy: [{ name: "family", column: "Product", prefix: 1 }] },
  ],
  measures: [
    { name: "revenue", expr: "Quantity * Price", agg: "sum" },
    { name: "lines", agg: "count" },
    { name: "customers", column: "Customer", agg: "count_distinct" },
    { name: "revenue_per_line", formula: "revenue / lines" },
  ],
  pre_aggregations: [{ name: "by_country_day", dimensions: ["country", "time.day"] }],
};

async function call(method, path, body, status = 200) {
  const r = await s.platform.api(method, path, body);
  assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
  return r.body;
}

// Revenue summed by the keys `by` picks from a row, over the rows `where` keeps.
function sums(by, where = () => true) {
  const out = new Map();
  for (const x of ROWS) if (where(x)) out.set(by(x), (out.get(by(x)) ?? 0) + x.revenue);
  return out;
}
const sorted = (it) => [...it].sort();

// Numbers as the page writes them: the browser's locale, at most 2 decimals.
let number;
const fmt = (v) => (v === null || v === undefined ? "—" : number.format(v));

// The expected rows of revenue by country and another level, with rollup totals: each country's
// values, its total, then the grand total (the API's order); cells as the page shows them.
function rollup(level, where = () => true) {
  const by = sums((x) => `${x.Country}|${x[level]}`, where);
  const countries = sums((x) => x.Country, where);
  const rows = [];
  for (const c of sorted(countries.keys())) {
    for (const v of sorted(new Set(ROWS.filter((x) => x.Country === c && where(x)).map((x) => x[level])))) {
      rows.push({ cells: [c, v, fmt(by.get(`${c}|${v}`))], total: false, grouping: "0,0" });
    }
    rows.push({ cells: [c, "Total", fmt(countries.get(c))], total: true, grouping: "0,1" });
  }
  rows.push({ cells: ["Total", "Total", fmt([...countries.values()].reduce((a, b) => a + b, 0))], total: true, grouping: "1,1" });
  return rows;
}

async function resultRows(page) {
  return page
    .getByRole("table", { name: "Result" })
    .locator("tbody tr")
    .evaluateAll((trs) => trs.map((tr) => ({ cells: [...tr.cells].map((td) => td.textContent), total: tr.dataset.total === "true", grouping: tr.dataset.grouping ?? "" })));
}

// Waits until the answer shown is that of the query asked and its rows are `want`.
async function resultIs(page, want, what) {
  let seen;
  await eventually(async () => {
    if ((await page.getByRole("region", { name: "Answer" }).getAttribute("data-fresh")) !== "true") return false;
    seen = await resultRows(page);
    return JSON.stringify(seen) === JSON.stringify(want);
  }, `${what}: want ${JSON.stringify(want)}, seen ${JSON.stringify(seen)}`);
}

async function cubePage(viewport) {
  const page = await openPage(s.browser, s.platform, viewport ? { viewport } : {});
  number = new Intl.NumberFormat(await page.evaluate(() => navigator.language), { maximumFractionDigits: 2 });
  await page.goto(`${s.platform.url}/#/cubes/sales`);
  await page.getByRole("heading", { name: "Cube sales" }).waitFor();
  await page.getByTestId("cube-state").getByText("ready", { exact: true }).waitFor({ timeout: 60000 });
  return page;
}

const levelOf = (page, dimension) => page.getByLabel(`Level of ${dimension}`, { exact: true });

test("a cube made on the list page from a dataset uploaded through the API is built", async () => {
  assert.equal(ROWS.length, 2000);
  await call("POST", "/api/v1/datasets", { name: "sales" }, 201);
  const upload = await s.platform.api("POST", "/api/v1/datasets/sales/versions", CSV, undefined, { "Content-Type": "text/csv" });
  assert.equal(upload.status, 201, JSON.stringify(upload.body));
  await eventually(async () => (await call("GET", "/api/v1/datasets/sales/versions/1")).status !== "building", "the dataset version", 60000);
  const version = await call("GET", "/api/v1/datasets/sales/versions/1");
  assert.equal(version.status, "ready", JSON.stringify(version));
  assert.equal(version.row_count, 2000);
  assert.equal(version.schema.find((c) => c.name === "Date").type, "timestamp");

  const page = await openPage(s.browser, s.platform);
  const locale = await page.evaluate(() => navigator.language);
  await page.goto(`${s.platform.url}/#/cubes`);
  await page.getByRole("link", { name: "Cubes", exact: true }).waitFor();
  await page.getByText("No cubes").waitFor();
  await page.getByRole("button", { name: "New cube" }).click();
  const form = page.getByRole("form", { name: "New cube" });
  const example = JSON.parse(await form.getByLabel("Cube (JSON)").inputValue());
  assert.deepEqual(example.measures.map((m) => m.name), ["revenue", "lines", "customers", "orders", "revenue_per_order"]);
  assert.deepEqual(example.dimensions.map((d) => d.name), ["country", "time", "product"]);
  await form.getByLabel("Cube (JSON)").fill(JSON.stringify(CUBE_SPEC, null, 2));
  await form.getByRole("button", { name: "Create" }).click();
  await page.getByRole("heading", { name: "Cube sales" }).waitFor();
  await page.getByTestId("cube-state").getByText("ready", { exact: true }).waitFor({ timeout: 60000 });
  const cube = await call("GET", CUBE);
  assert.equal(cube.state, "ready");
  assert.equal(cube.rows, 2000);
  assert.equal(cube.source.built_version, 1);

  await page.getByRole("link", { name: "Cubes", exact: true }).click();
  const row = page.getByRole("row").filter({ has: page.getByRole("link", { name: "sales", exact: true }) }).filter({ hasText: "ready" });
  await row.waitFor();
  const cells = await row.getByRole("cell").allTextContents();
  assert.deepEqual(cells.slice(0, 4), ["sales", "sales latest (version 1)", "ready", (2000).toLocaleString(locale)]);
  await page.shot("cubes");
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("revenue by country, as bars, by month with rollup totals, drilled into a month and back up", async () => {
  const page = await cubePage();
  await page.getByText("Pick a measure").waitFor();
  await page.getByRole("checkbox", { name: "revenue", exact: true }).check();
  await levelOf(page, "country").selectOption("country");
  const byCountry = sums((x) => x.Country);
  const countryRows = sorted(byCountry.keys()).map((c) => ({ cells: [c, fmt(byCountry.get(c))], total: false, grouping: "" }));
  assert.equal(countryRows.length, 4);
  await resultIs(page, countryRows, "revenue by country");
  assert.match(await page.getByTestId("query-stats").textContent(), /^4 rows; from pre-aggregation by_country_day; \d+ rows scanned, 0 chunks skipped; [\d.]+ ms$/);

  // Bars: one per country, its length the revenue's.
  await page.getByRole("tab", { name: "Bars" }).click();
  const bars = page.getByRole("group", { name: "revenue by country" });
  await bars.waitFor();
  const shown = await bars.locator("g[data-label]").evaluateAll((gs) =>
    gs.map((g) => ({ name: g.getAttribute("aria-label"), width: Number(g.querySelector("rect").getAttribute("width")) })),
  );
  assert.deepEqual(shown.map((b) => b.name), sorted(byCountry.keys()).map((c) => `${c}: ${fmt(byCountry.get(c))}`));
  const widest = shown.reduce((a, b) => (b.width > a.width ? b : a));
  const top = [...byCountry.entries()].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  assert.ok(widest.name.startsWith(`${top}:`), `the widest bar is ${widest.name}, the top country ${top}`);
  await page.shot("cube-bars");

  // By month, with rollup totals: a Total row per country and the grand total.
  await levelOf(page, "time").selectOption("time.month");
  await page.getByLabel("Totals").selectOption("rollup");
  const months = rollup("month");
  assert.equal(months.length, 4 * 3 + 4 + 1);
  await resultIs(page, months, "revenue by country and month, rolled up");
  const totals = page.getByRole("table", { name: "Result" }).locator("tbody tr.total-row");
  assert.equal(await totals.count(), 5);
  assert.deepEqual(await totals.last().locator("td.total").allTextContents(), ["Total", "Total"]);
  await page.getByRole("tab", { name: "Table" }).click();
  await page.shot("cube-rollup");

  // A click on a month drills into its weeks, filtered to the month; Up comes back.
  await page.getByRole("table", { name: "Result" }).getByRole("button", { name: "2025-01" }).first().click();
  const path = page.getByRole("navigation", { name: "Drill path" });
  await path.waitFor();
  assert.equal(await path.textContent(), "All › time.month = 2025-01");
  assert.equal(await levelOf(page, "time").inputValue(), "time.week");
  assert.deepEqual(await page.getByRole("list", { name: "Filters" }).getByRole("listitem").allTextContents(), ["time.month eq 2025-01 ×"]);
  const weeks = rollup("week", (x) => x.month === "2025-01");
  assert.deepEqual(weeks.slice(0, 5).map((r) => r.cells[1]), ["2024-12-30", "2025-01-06", "2025-01-13", "2025-01-20", "2025-01-27"]);
  await resultIs(page, weeks, "the weeks of January");
  await page.shot("cube-drilled");
  await page.getByRole("button", { name: "Up", exact: true }).click();
  await path.waitFor({ state: "detached" });
  assert.equal(await levelOf(page, "time").inputValue(), "time.month");
  assert.equal(await page.getByRole("list", { name: "Filters" }).getByRole("listitem").count(), 0);
  await resultIs(page, months, "back to the months");

  // The same from a bar, by month alone.
  await levelOf(page, "country").selectOption("");
  await page.getByRole("tab", { name: "Bars" }).click();
  const monthBars = page.getByRole("group", { name: "revenue by time.month" });
  const feb = sums((x) => x.month).get("2025-02");
  await monthBars.getByRole("button", { name: `2025-02: ${fmt(feb)}` }).click();
  await path.waitFor();
  assert.equal(await path.textContent(), "All › time.month = 2025-02");
  const febWeeks = sums((x) => x.week, (x) => x.month === "2025-02");
  const weekBars = page.getByRole("group", { name: "revenue by time.week" });
  await weekBars.waitFor();
  assert.deepEqual(
    await weekBars.locator("g[data-label]").evaluateAll((gs) => gs.map((g) => g.getAttribute("aria-label"))),
    sorted(febWeeks.keys()).map((w) => `${w}: ${fmt(febWeeks.get(w))}`),
  );
  await page.getByRole("button", { name: "Up", exact: true }).click();
  await path.waitFor({ state: "detached" });
  await page.getByRole("group", { name: "revenue by time.month" }).waitFor();
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("a view saved with its chart opens again after a reload", async () => {
  const page = await cubePage();
  await page.getByRole("checkbox", { name: "revenue", exact: true }).check();
  await levelOf(page, "country").selectOption("country");
  await levelOf(page, "time").selectOption("time.month");
  await page.getByLabel("Totals").selectOption("rollup");
  await page.getByRole("tab", { name: "Lines" }).click();
  const lines = page.getByRole("img", { name: "revenue over time.month by country" });
  await lines.waitFor();
  assert.equal(await lines.getAttribute("data-points"), "3");
  assert.equal(await lines.getAttribute("data-lines"), "4");
  await page.getByRole("tab", { name: "Heatmap" }).click();
  const heat = page.getByRole("img", { name: "revenue by country and time.month" });
  assert.deepEqual([await heat.getAttribute("data-rows"), await heat.getAttribute("data-columns")], ["4", "3"]);
  await page.shot("cube-heatmap");
  await page.getByRole("tab", { name: "Lines" }).click();
  await page.getByLabel("View name").fill("by-month");
  await page.getByRole("button", { name: "Save view" }).click();
  const views = page.getByRole("region", { name: "Saved views" });
  await views.getByRole("button", { name: "by-month", exact: true }).waitFor();
  const saved = (await call("GET", `${CUBE}/views`)).views;
  assert.deepEqual(saved.map((v) => [v.name, v.chart, v.query.dimensions, v.query.totals]), [["by-month", "lines", ["country", "time.month"], "rollup"]]);

  // A second view, deleted again.
  await page.getByLabel("View name").fill("scratch");
  await page.getByRole("button", { name: "Save view" }).click();
  await views.getByRole("button", { name: "scratch", exact: true }).waitFor();
  await views.getByRole("button", { name: "Delete view scratch" }).click();
  await views.getByRole("button", { name: "scratch", exact: true }).waitFor({ state: "detached" });
  assert.deepEqual((await call("GET", `${CUBE}/views`)).views.map((v) => v.name), ["by-month"]);

  await page.reload();
  await page.getByTestId("cube-state").getByText("ready", { exact: true }).waitFor();
  await page.getByText("Pick a measure").waitFor();
  assert.equal(await levelOf(page, "time").inputValue(), "");
  await views.getByRole("button", { name: "by-month", exact: true }).click();
  assert.equal(await page.getByRole("checkbox", { name: "revenue", exact: true }).isChecked(), true);
  assert.equal(await levelOf(page, "country").inputValue(), "country");
  assert.equal(await levelOf(page, "time").inputValue(), "time.month");
  assert.equal(await page.getByLabel("Totals").inputValue(), "rollup");
  assert.equal(await page.getByRole("tab", { name: "Lines" }).getAttribute("aria-selected"), "true");
  await page.getByRole("img", { name: "revenue over time.month by country" }).waitFor();
  await resultIs(page, rollup("month"), "the view's answer");
  await page.shot("cube-view");
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("a filter picked from the members and a pivot table", async () => {
  const page = await cubePage();
  await page.getByRole("checkbox", { name: "revenue", exact: true }).check();
  await levelOf(page, "product").selectOption("product.family");
  const form = page.getByRole("form", { name: "Add a filter" });
  await form.getByLabel("Filter on").selectOption("country");
  await form.getByLabel("Operator").selectOption("in");
  // The values are suggested from the cube's members as they are typed.
  await form.locator("input[name=filter-values]").fill("fr");
  await eventually(async () => (await form.locator("datalist option").evaluateAll((os) => os.map((o) => o.value))).join() === "France", "France suggested");
  await form.locator("input[name=filter-values]").fill("France, sp");
  await eventually(async () => (await form.locator("datalist option").evaluateAll((os) => os.map((o) => o.value))).join() === "France, Spain", "Spain suggested");
  await form.locator("input[name=filter-values]").fill("France, Spain");
  await form.getByRole("button", { name: "Add filter" }).click();
  assert.deepEqual(await page.getByRole("list", { name: "Filters" }).getByRole("listitem").allTextContents(), ["country in France, Spain ×"]);
  const west = (x) => x.Country === "France" || x.Country === "Spain";
  const fam = sums((x) => x.Product[0], west);
  await resultIs(page, sorted(fam.keys()).map((f) => ({ cells: [f, fmt(fam.get(f))], total: false, grouping: "" })), "revenue of France and Spain by family");

  // Family by month, the months as columns.
  await levelOf(page, "time").selectOption("time.month");
  await page.getByLabel("Pivot").selectOption("time.month");
  const pivot = page.getByRole("table", { name: "Pivot" });
  await pivot.waitFor();
  assert.deepEqual(await pivot.locator("thead th").allTextContents(), ["product.family", "2025-01", "2025-02", "2025-03"]);
  const cell = sums((x) => `${x.Product[0]}|${x.month}`, west);
  const want = sorted(fam.keys()).map((f) => [f, ...["2025-01", "2025-02", "2025-03"].map((m) => (cell.has(`${f}|${m}`) ? fmt(cell.get(`${f}|${m}`)) : ""))]);
  await eventually(
    async () => JSON.stringify(await pivot.locator("tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)))) === JSON.stringify(want),
    `the pivot ${JSON.stringify(want)}`,
  );
  await page.shot("cube-pivot");
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("each month compared with the previous one", async () => {
  const page = await cubePage();
  await page.getByRole("checkbox", { name: "revenue", exact: true }).check();
  assert.equal(await page.getByLabel("Compare with").isDisabled(), true);
  await levelOf(page, "time").selectOption("time.month");
  await page.getByLabel("Compare with").selectOption("previous_period");
  const monthly = sums((x) => x.month);
  const pct = (a, b) => `${a > b ? "+" : ""}${(((a - b) / b) * 100).toFixed(1)}%`;
  const want = [
    ["2025-02", fmt(monthly.get("2025-02")), fmt(monthly.get("2025-01")), pct(monthly.get("2025-02"), monthly.get("2025-01"))],
    ["2025-03", fmt(monthly.get("2025-03")), fmt(monthly.get("2025-02")), pct(monthly.get("2025-03"), monthly.get("2025-02"))],
  ];
  const table = page.getByRole("table", { name: "Result" });
  await table.getByRole("columnheader", { name: "revenue change" }).waitFor();
  let seen;
  await eventually(async () => {
    seen = (await resultRows(page)).slice(1).map((r) => r.cells);
    return JSON.stringify(seen) === JSON.stringify(want);
  }, `the comparison: want ${JSON.stringify(want)}, seen ${JSON.stringify(seen)}`);
  assert.deepEqual(await table.locator("thead th").allTextContents(), ["time.month", "revenue", "revenue before", "revenue change"]);
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("a SQL query shows its rows and the JSON query it became", async () => {
  const page = await cubePage();
  await page.getByRole("tab", { name: "SQL" }).click();
  await page.locator("textarea[name=sql]").fill(
    "SELECT country, SUM(revenue) FROM sales WHERE country IN ('France', 'Spain') GROUP BY country ORDER BY revenue DESC LIMIT 10",
  );
  await page.getByRole("button", { name: "Run", exact: true }).click();
  const byCountry = sums((x) => x.Country);
  const want = ["France", "Spain"].sort((a, b) => byCountry.get(b) - byCountry.get(a)).map((c) => ({ cells: [c, fmt(byCountry.get(c))], total: false, grouping: "" }));
  await page.getByTestId("sql-query").waitFor();
  assert.deepEqual(await resultRows(page), want);
  const q = JSON.parse(await page.getByTestId("sql-query").textContent());
  assert.deepEqual(q.measures, ["revenue"]);
  assert.deepEqual(q.dimensions, ["country"]);
  assert.deepEqual(q.filters, [{ dimension: "country", op: "in", values: ["France", "Spain"] }]);
  assert.deepEqual(q.order, [{ by: "revenue", desc: true }]);
  assert.equal(q.limit, 10);
  await page.shot("cube-sql");
  // Opened in the builder, the same answer.
  await page.getByRole("button", { name: "Open in the builder" }).click();
  assert.equal(await levelOf(page, "country").inputValue(), "country");
  assert.deepEqual(await page.getByRole("list", { name: "Filters" }).getByRole("listitem").allTextContents(), ["country in France, Spain ×"]);
  await resultIs(page, want, "the SQL query in the builder");
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("anomalies and the explanation of a change are those the API finds", async () => {
  const page = await cubePage();
  await page.getByRole("tab", { name: "Anomalies" }).click();
  await page.getByLabel("Measure", { exact: true }).selectOption("revenue");
  await page.getByLabel("Level", { exact: true }).selectOption("time.day");
  await page.getByLabel("Threshold").fill("3.5");
  await page.getByRole("button", { name: "Find anomalies" }).click();
  const chart = page.getByRole("img", { name: "revenue per time.day and its baseline" });
  await chart.waitFor();
  const a = await call("POST", `${CUBE}/anomalies`, { measure: "revenue", level: "time.day", threshold: 3.5 });
  // Every day of the 60 (and the burst's day the strongest anomaly, upwards).
  assert.equal(a.points.length, 60);
  assert.equal(a.points.find((p) => p.time === SPIKE).value, sums((x) => x.day).get(SPIKE));
  assert.ok(a.anomalies.length >= 1);
  assert.deepEqual([a.anomalies[0].time, a.anomalies[0].direction], [SPIKE, "up"]);
  assert.equal(await chart.getAttribute("data-points"), String(a.points.length));
  assert.equal(await chart.locator("circle.cube-mark").count(), a.points.filter((p) => p.anomaly).length);
  assert.deepEqual(await chart.locator("circle.cube-mark").evaluateAll((cs) => cs.map((c) => c.dataset.x)), a.points.filter((p) => p.anomaly).map((p) => p.time));
  assert.equal(
    await page.getByTestId("anomalies-summary").textContent().then((t) => t.split(";")[0]),
    `${a.points.length} periods, ${a.anomalies.length} anomalies`,
  );
  const rows = page.getByRole("region", { name: "Anomalies" }).getByRole("table").locator("tbody tr");
  assert.deepEqual(
    await rows.evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent))),
    a.anomalies.map((x) => [x.time, fmt(x.value), fmt(x.baseline), x.score.toFixed(2), x.direction === "up" ? "↑ up" : "↓ down"]),
  );
  await page.shot("cube-anomalies");

  await page.getByRole("tab", { name: "Explain change" }).click();
  await page.getByLabel("Level", { exact: true }).selectOption("time.month");
  await page.getByLabel("From", { exact: true }).fill("2025-01");
  await page.getByLabel("To", { exact: true }).fill("2025-02");
  const by = page.getByRole("group", { name: "Explain by" });
  assert.equal(await by.getByRole("checkbox", { name: "country", exact: true }).isChecked(), true);
  assert.equal(await by.getByRole("checkbox", { name: "product", exact: true }).isChecked(), true);
  assert.equal(await by.getByRole("checkbox", { name: "product.family", exact: true }).isChecked(), false);
  await page.getByRole("button", { name: "Explain", exact: true }).click();
  await page.getByTestId("explain-total").waitFor();
  const e = await call("POST", `${CUBE}/explain`, { measure: "revenue", level: "time.month", from: "2025-01", to: "2025-02", dimensions: ["country", "product"], limit: 10 });
  const monthly = sums((x) => x.month);
  assert.deepEqual([e.total.from, e.total.to], [monthly.get("2025-01"), monthly.get("2025-02")]);
  const change = e.total.change;
  assert.equal(
    await page.getByTestId("explain-total").textContent(),
    `revenue went from ${fmt(e.total.from)} (2025-01) to ${fmt(e.total.to)} (2025-02): ${change > 0 ? "+" : ""}${fmt(change)}`,
  );
  assert.equal(e.contributors.length, 10);
  // The API's countries moved as the rows say.
  const cm = sums((x) => `${x.Country}|${x.month}`);
  for (const c of e.contributors.filter((x) => x.dimension === "country")) {
    assert.deepEqual([c.from, c.to], [cm.get(`${c.value}|2025-01`), cm.get(`${c.value}|2025-02`)]);
  }
  const explained = page.getByRole("region", { name: "Explain change" }).getByRole("table");
  assert.deepEqual(await explained.locator("thead th").allTextContents(), ["Level", "Value", "2025-01", "2025-02", "Change", "Share"]);
  assert.deepEqual(
    await explained.locator("tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent))),
    e.contributors.map((c) => [c.dimension, String(c.value), fmt(c.from), fmt(c.to), fmt(c.change), `${(c.share * 100).toFixed(1)}%`]),
  );
  await page.shot("cube-explain");
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("the Cube tab shows the pre-aggregations and adds a proposed one", async () => {
  const page = await cubePage();
  await page.getByRole("tab", { name: "Cube", exact: true }).click();
  assert.match(await page.getByTestId("cube-rows").textContent(), new RegExp(`^${fmt(2000)} in 1 chunks, `));
  const pre = page.getByRole("row").filter({ hasText: "by_country_day" });
  assert.deepEqual((await pre.getByRole("cell").allTextContents()).slice(0, 3), ["by_country_day", "country, time.day", "ready"]);
  // The explain queries above grouped by product and month, which no pre-aggregation holds.
  const { proposals } = await call("GET", `${CUBE}/pre-aggregations/proposals`);
  const wanted = proposals.find((p) => JSON.stringify(p.dimensions) === JSON.stringify(["product", "time.month"]));
  assert.ok(wanted, JSON.stringify(proposals));
  await page.getByRole("button", { name: `Add pre-aggregation ${wanted.name}` }).click();
  await page.getByRole("button", { name: `Remove pre-aggregation ${wanted.name}` }).waitFor();
  const cube = await call("GET", CUBE);
  assert.deepEqual(cube.pre_aggregations.map((p) => [p.name, p.dimensions]), [["by_country_day", ["country", "time.day"]], [wanted.name, ["product", "time.month"]]]);
  await eventually(async () => (await call("GET", CUBE)).pre_aggregations.every((p) => p.state === "ready"), "the new pre-aggregation built", 30000);
  await page.getByRole("row").filter({ hasText: wanted.name }).getByText("ready", { exact: true }).waitFor({ timeout: 15000 });
  await page.shot("cube-facts");
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("the cube's page fits a phone's width", async () => {
  const page = await cubePage({ width: 390, height: 844 });
  await page.getByRole("checkbox", { name: "revenue", exact: true }).check();
  await levelOf(page, "time").selectOption("time.month");
  await page.getByRole("tab", { name: "Bars" }).click();
  await page.getByRole("group", { name: "revenue by time.month" }).waitFor();
  const monthly = sums((x) => x.month);
  await resultIs(page, sorted(monthly.keys()).map((m) => ({ cells: [m, fmt(monthly.get(m))], total: false, grouping: "" })), "revenue by month");
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), "the page scrolls sideways");
  await page.shot("cube-phone");
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});
