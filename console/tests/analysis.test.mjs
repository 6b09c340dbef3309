// The analysis (mining jobs) pages in headless Chromium against a real aimass: table datasets
// uploaded through the API (60 invoices of a shop where bread and butter always go together,
// with a description per item; 83 points in two clear clusters and three far away; 30,000
// random rows for a job that runs long). Through the form: an association-rules job, its rules
// table filtered by lift, by an item and by an item's label, by support, and sorted, each time
// against the API's result; a k-means job, first with k = 0 (the API's message shows) then with
// k = 2 on two picked columns: its scatter has a circle per projected point in as many colours
// as clusters, its table the API's sizes. A DBSCAN job's noise in grey; an outliers job's
// histogram and top rows; a sequences job's patterns filtered. The list filtered by state and
// refreshed while a job runs; a queued and a running job cancelled from their pages (the
// running one shows its phase), one deleted. Screenshots: console/test-output/.
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, openPage, platformForTests, random } from "./harness.mjs";

// One thread per job, so that the long job stays running while the test looks at it.
const s = platformForTests({ env: { AIMASS_ANALYSIS_MINING_THREADS: "1" } });
const API = "/api/v1/analysis/mining";

async function call(method, path, body, status = 200) {
  const r = await s.platform.api(method, path, body);
  assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
  return r.body;
}

const LABELS = { bread: "Bread loaf", butter: "Butter 250g", milk: "Milk 1l", jam: "Strawberry jam", eggs: "Eggs x6", tea: "Green tea", coffee: "Coffee beans" };

// Every other invoice has bread and butter (and never one without the other); each invoice has
// some of the other items at random.
function baskets() {
  const r = random(7);
  const lines = ["invoice,item,description"];
  for (let i = 1; i <= 60; i++) {
    const items = i % 2 === 0 ? ["bread", "butter"] : [];
    for (const it of ["milk", "jam", "eggs", "tea", "coffee"]) if (r() < 0.3) items.push(it);
    if (items.length === 0) items.push("milk");
    for (const it of items) lines.push(`INV${String(i).padStart(3, "0")},${it},${LABELS[it]}`);
  }
  return `${lines.join("\n")}\n`;
}

// Two clusters around (0, 0) and (10, 10), and three points far from both.
function points() {
  const r = random(3);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const lines = ["name,x,y,z"];
  for (let i = 0; i < 80; i++) {
    const c = i % 2 === 0 ? 0 : 10;
    lines.push(`p${i},${(c + gauss() * 0.5).toFixed(4)},${(c + gauss() * 0.5).toFixed(4)},${(gauss() * 0.1).toFixed(4)}`);
  }
  lines.push("far1,5,-6,0", "far2,-6,12,0", "far3,16,2,0");
  return `${lines.join("\n")}\n`;
}

function big() {
  const r = random(5);
  const lines = ["a,b,c,d"];
  for (let i = 0; i < 30000; i++) lines.push([r(), r(), r(), r()].map((v) => v.toFixed(5)).join(","));
  return `${lines.join("\n")}\n`;
}

async function dataset(name, csv) {
  await call("POST", "/api/v1/datasets", { name }, 201);
  const up = await s.platform.api("POST", `/api/v1/datasets/${name}/versions`, csv, undefined, { "Content-Type": "text/csv" });
  assert.equal(up.status, 201, JSON.stringify(up.body));
  await eventually(async () => (await call("GET", `/api/v1/datasets/${name}/versions/1`)).status === "ready", `dataset ${name}`, 60000);
}

async function finished(id) {
  let job;
  await eventually(async () => ["succeeded", "failed", "cancelled"].includes((job = await call("GET", `${API}/${id}`)).state), `job ${id}`, 60000);
  return job;
}

const idOf = (page) => Number(page.url().match(/\/analysis\/mining\/(\d+)$/)[1]);

async function openNewJob(page) {
  await page.getByRole("button", { name: "New job" }).click();
  return page.getByRole("form", { name: "New mining job" });
}

// The rules table's rows as the page shows them, and the API's rules in the same shape.
const ruleKey = (x) => `${x.antecedent.join("|")} => ${x.consequent.join("|")}`;
async function shownRules(page) {
  const table = page.getByRole("table", { name: "Rules" });
  if ((await table.count()) === 0) return [];
  return table.locator("tbody tr").evaluateAll((trs) => trs.map((tr) => `${tr.dataset.antecedent} => ${tr.dataset.consequent}`));
}
async function rulesAre(page, want, what) {
  let seen;
  await eventually(async () => JSON.stringify((seen = await shownRules(page))) === JSON.stringify(want.map(ruleKey)), `${what}: want ${want.length} rules ${JSON.stringify(want.map(ruleKey))}, seen ${JSON.stringify(seen)}`);
  assert.equal(await page.getByTestId("rules-count").textContent(), `Showing ${want.length} of ${RULES.length} rules`);
}
let RULES = [];
const mentions = (x, text) => [...x.antecedent, ...x.consequent].some((i) => i.includes(text) || LABELS[i].toLowerCase().includes(text));
const expected400 = (p) => !/HTTP 400: POST .*\/analysis\/mining$/.test(p) && !/status of 400/.test(p);

test("an association-rules job from the form, its rules filtered and sorted as the API's result", async () => {
  await dataset("baskets", baskets());
  await dataset("points", points());
  const page = await openPage(s.browser, s.platform);
  await page.getByRole("link", { name: "Analysis", exact: true }).click();
  await page.getByRole("heading", { name: "Analysis", exact: true }).waitFor();
  await page.getByText("No mining jobs yet").waitFor();
  const form = await openNewJob(page);
  // The kind's parameters with their defaults.
  assert.equal(await form.getByLabel("Kind", { exact: true }).inputValue(), "association_rules");
  assert.equal(await form.getByLabel("min_support", { exact: true }).inputValue(), "0.01");
  assert.equal(await form.getByLabel("min_confidence", { exact: true }).inputValue(), "0.5");
  assert.equal(await form.getByLabel("max_rules", { exact: true }).inputValue(), "10000");
  assert.equal(await form.getByRole("button", { name: "Start" }).isDisabled(), true);
  // Only table datasets, and the picked version's columns.
  await form.getByLabel("Dataset", { exact: true }).selectOption("baskets");
  const txColumn = form.getByLabel(/^transaction_column/);
  await txColumn.locator('option[value="invoice"]').waitFor({ state: "attached" });
  assert.deepEqual(await txColumn.locator("option").evaluateAll((os) => os.map((o) => o.value)), ["", "invoice", "item", "description"]);
  await txColumn.selectOption("invoice");
  await form.getByLabel(/^item_column/).selectOption("item");
  await form.getByLabel(/^label_column/).selectOption("description");
  await form.getByLabel("min_support", { exact: true }).fill("0.05");
  await page.shot("analysis-new-rules");
  await form.getByRole("button", { name: "Start" }).click();

  await page.getByRole("heading", { name: /^Mining job \d+: Association rules$/ }).waitFor();
  const id = idOf(page);
  await page.getByTestId("mining-state").getByText("succeeded", { exact: true }).waitFor({ timeout: 60000 });
  const job = await call("GET", `${API}/${id}`);
  assert.equal(job.state, "succeeded");
  assert.deepEqual(job.source, { dataset: "baskets", version: 1 });
  assert.equal(job.params.transaction_column, "invoice");
  assert.equal(job.params.label_column, "description");
  assert.equal(job.params.min_support, 0.05);
  assert.equal(job.params.min_confidence, 0.5);
  RULES = job.result.rules;
  assert.ok(RULES.length > 10, `${RULES.length} rules`);
  assert.equal(job.result.transactions, 60);
  // Bread and butter always together: each implies the other with confidence 1 and lift 2.
  const breadButter = RULES.find((x) => ruleKey(x) === "bread => butter");
  assert.ok(breadButter, "the rule bread => butter");
  assert.equal(breadButter.confidence, 1);
  assert.equal(breadButter.lift, 2);

  // All the rules, by lift as the API sorts them; items shown with their labels.
  await rulesAre(page, RULES, "every rule");
  const row = page.locator('table[aria-label="Rules"] tr[data-antecedent="bread"][data-consequent="butter"]');
  assert.match(await row.textContent(), /^bread Bread loafbutter Butter 250g30/);

  const filters = page.getByRole("search", { name: "Rule filters" });
  await filters.getByLabel("Min lift").fill("1.5");
  const lifted = RULES.filter((x) => x.lift >= 1.5);
  assert.ok(lifted.length > 0 && lifted.length < RULES.length, `${lifted.length} rules with lift ≥ 1.5`);
  await rulesAre(page, lifted, "min lift 1.5");

  await filters.getByLabel("Items or their labels").fill("butter");
  const butter = lifted.filter((x) => mentions(x, "butter"));
  assert.ok(butter.length > 0 && butter.length < lifted.length, `${butter.length} rules with butter`);
  await rulesAre(page, butter, "min lift 1.5 and butter");
  await page.shot("analysis-rules");

  // A label's text finds its item: "250g" is butter's label only.
  await filters.getByLabel("Items or their labels").fill("250G");
  await rulesAre(page, butter, "min lift 1.5 and 250g");
  await filters.getByLabel("Min lift").fill("");
  const anyButter = RULES.filter((x) => mentions(x, "250g"));
  assert.ok(anyButter.length > butter.length);
  await rulesAre(page, anyButter, "250g");

  // Sorted by confidence (a click: highest first; again: lowest first), ties in the API's order.
  await page.getByRole("button", { name: "Confidence" }).click();
  const byConfidence = [...anyButter].sort((a, b) => b.confidence - a.confidence);
  assert.notDeepEqual(byConfidence.map(ruleKey), anyButter.map(ruleKey), "sorting by confidence changes the order");
  await rulesAre(page, byConfidence, "250g by confidence");
  await page.getByRole("button", { name: /^Confidence/ }).click();
  await rulesAre(page, [...anyButter].sort((a, b) => a.confidence - b.confidence), "250g by confidence, lowest first");

  // Min support and min confidence, the text filter cleared.
  await filters.getByLabel("Items or their labels").fill("");
  await page.getByRole("button", { name: /^Lift/ }).click();
  await filters.getByLabel("Min support").fill("0.2");
  await filters.getByLabel("Min confidence").fill("0.9");
  const strong = RULES.filter((x) => x.support >= 0.2 && x.confidence >= 0.9);
  assert.ok(strong.length >= 2 && strong.length < RULES.length);
  await rulesAre(page, strong, "support 0.2 and confidence 0.9");
  // The itemsets follow min support.
  const sets = job.result.itemsets.filter((x) => x.support >= 0.2);
  assert.equal(await page.getByTestId("itemsets-count").textContent(), `Showing ${sets.length} of ${job.result.itemsets.length} itemsets (min support and the items filter apply)`);

  // The list shows the job.
  await page.getByRole("link", { name: "Analysis", exact: true }).click();
  const listed = page.getByRole("region", { name: "Mining jobs" }).getByRole("row").filter({ has: page.getByRole("link", { name: String(id), exact: true }) });
  await listed.waitFor();
  const cells = await listed.getByRole("cell").allTextContents();
  assert.deepEqual(cells.slice(0, 5), [String(id), "Association rules", "baskets v1", "succeeded", "admin"]);
  assert.match(cells[6], /^\d+ ms$/);
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("k-means from the form: the API's message for k = 0, then the clusters' scatter and table", async () => {
  const page = await openPage(s.browser, s.platform);
  await page.goto(`${s.platform.url}/#/analysis`);
  const before = (await call("GET", API)).jobs.length;
  const form = await openNewJob(page);
  await form.getByLabel("Kind", { exact: true }).selectOption("kmeans");
  assert.equal(await form.getByLabel("k", { exact: true }).inputValue(), "8");
  assert.equal(await form.getByLabel("init", { exact: true }).inputValue(), "k-means++");
  assert.equal(await form.getByLabel("tol", { exact: true }).inputValue(), "0.0001");
  assert.equal(await form.getByLabel("projection_sample", { exact: true }).inputValue(), "2000");
  await form.getByLabel("Dataset", { exact: true }).selectOption("points");
  // Numeric columns only.
  const columns = form.getByLabel(/^columns/);
  await columns.locator('option[value="x"]').waitFor({ state: "attached" });
  assert.deepEqual(await columns.locator("option").evaluateAll((os) => os.map((o) => o.value)), ["x", "y", "z"]);
  await form.getByLabel("k", { exact: true }).fill("0");
  await form.getByRole("button", { name: "Start" }).click();
  const alert = form.getByRole("alert");
  await alert.waitFor();
  assert.equal(await alert.textContent(), "params.k must be between 1 and 10000");
  assert.equal((await call("GET", API)).jobs.length, before, "no job was made");
  await page.shot("analysis-error");

  await form.getByLabel("k", { exact: true }).fill("2");
  await columns.selectOption(["x", "y"]);
  await form.getByRole("button", { name: "Start" }).click();
  await page.getByRole("heading", { name: /^Mining job \d+: k-means$/ }).waitFor();
  const id = idOf(page);
  await page.getByTestId("mining-state").getByText("succeeded", { exact: true }).waitFor({ timeout: 60000 });
  const job = await call("GET", `${API}/${id}`);
  assert.deepEqual(job.params.columns, ["x", "y"]);
  assert.equal(job.params.k, 2);
  const r = job.result;
  assert.deepEqual(r.columns, ["x", "y"]);
  assert.equal(r.rows, 83);
  assert.deepEqual([...r.sizes].sort((a, b) => a - b).map((n) => n >= 40), [true, true]);

  // A circle per projected point, as many colours as clusters, each cluster's points its colour.
  const scatter = page.getByRole("img", { name: "Clusters on the two principal axes" });
  await scatter.waitFor();
  const circles = await scatter.locator("circle").evaluateAll((cs) => cs.map((c) => ({ fill: c.getAttribute("fill"), cluster: Number(c.dataset.cluster) })));
  assert.equal(circles.length, r.projection.points.length);
  assert.equal(circles.length, 83);
  const fills = new Set(circles.map((c) => c.fill));
  assert.equal(fills.size, r.k);
  for (let c = 0; c < r.k; c++) {
    const mine = circles.filter((x) => x.cluster === c);
    assert.equal(mine.length, r.projection.points.filter((p) => p[2] === c).length);
    assert.equal(mine.length, r.sizes[c]);
    assert.equal(new Set(mine.map((x) => x.fill)).size, 1, `cluster ${c} in one colour`);
  }
  assert.equal(await scatter.getByTestId("axis-x").textContent(), `Component 1: ${(r.projection.explained[0] * 100).toFixed(1)}% of the variance`);
  assert.equal(await scatter.getByTestId("axis-y").textContent(), `Component 2: ${(r.projection.explained[1] * 100).toFixed(1)}% of the variance`);

  // The clusters' table: sizes and centroids.
  const rows = await page.getByRole("table", { name: "Clusters" }).locator("tbody tr").evaluateAll((trs) =>
    trs.map((tr) => ({ size: Number(tr.dataset.size), cells: [...tr.cells].map((td) => td.textContent) })),
  );
  assert.deepEqual(rows.map((x) => x.size), r.sizes);
  const number = new Intl.NumberFormat(await page.evaluate(() => navigator.language), { maximumFractionDigits: 3 });
  assert.deepEqual(rows.map((x) => x.cells.slice(3)), r.centroids.map((c) => c.map((v) => number.format(v))));
  assert.equal(await page.getByTestId("mining-silhouette").textContent(), `${number.format(r.silhouette)} (over 83 points)`);
  assert.ok(r.silhouette > 0.7, `silhouette ${r.silhouette}`);
  await page.shot("analysis-kmeans");
  assert.deepEqual(page.problems().filter(expected400), []);
  await page.context().close();
});

test("DBSCAN's noise in grey, an outliers histogram and top rows, sequences filtered", async () => {
  const dbscan = await call("POST", API, { kind: "dbscan", source: { dataset: "points", version: "latest" }, params: { eps: 1.5, columns: ["x", "y"] } }, 202);
  const outliers = await call("POST", API, { kind: "outliers", source: { dataset: "points", version: 1 }, params: { columns: ["x", "y"], id_column: "name", top: 5 } }, 202);
  const sequences = await call("POST", API, { kind: "sequences", source: { dataset: "baskets" }, params: { sequence_column: "invoice", item_column: "item", min_support: 0.1 } }, 202);
  const page = await openPage(s.browser, s.platform);

  const d = (await finished(dbscan.id)).result;
  assert.equal(d.clusters, 2);
  assert.equal(d.noise, 3);
  await page.goto(`${s.platform.url}/#/analysis/mining/${dbscan.id}`);
  const scatter = page.getByRole("img", { name: "Clusters on the two principal axes" });
  await scatter.waitFor();
  const circles = await scatter.locator("circle").evaluateAll((cs) =>
    cs.map((c) => ({ fill: getComputedStyle(c).fill, attr: c.getAttribute("fill"), noise: c.classList.contains("mining-noise"), cluster: Number(c.dataset.cluster) })),
  );
  assert.equal(circles.length, 83);
  const noise = circles.filter((c) => c.noise);
  assert.equal(noise.length, d.noise);
  assert.ok(noise.every((c) => c.cluster === -1 && c.attr === null));
  const clustered = new Set(circles.filter((c) => !c.noise).map((c) => c.fill));
  assert.equal(clustered.size, d.clusters);
  assert.equal(new Set(noise.map((c) => c.fill)).size, 1);
  assert.ok(!clustered.has(noise[0].fill), "noise is not in a cluster's colour");
  const sizes = await page.getByRole("table", { name: "Clusters" }).locator("tbody tr").evaluateAll((trs) => trs.map((tr) => [tr.dataset.cluster, Number(tr.dataset.size)]));
  assert.deepEqual(sizes, [...d.sizes.map((n, i) => [String(i), n]), ["-1", 3]]);
  await page.shot("analysis-dbscan");

  const o = (await finished(outliers.id)).result;
  await page.goto(`${s.platform.url}/#/analysis/mining/${outliers.id}`);
  const histogram = page.getByRole("group", { name: "Rows by outlier score" });
  await histogram.waitFor();
  const bins = await histogram.locator("g[data-count]").evaluateAll((gs) => gs.map((g) => Number(g.dataset.count)));
  assert.deepEqual(bins, o.histogram);
  assert.equal(bins.reduce((a, b) => a + b, 0), 83);
  assert.equal(Number(await histogram.locator("g[data-threshold]").getAttribute("data-threshold")), o.threshold);
  const top = await page.getByRole("table", { name: "Top rows" }).locator("tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
  assert.equal(top.length, 5);
  assert.deepEqual(top.map((t) => t[1]), o.top.map((t) => t.id));
  assert.deepEqual(new Set(top.slice(0, 3).map((t) => t[1])), new Set(["far1", "far2", "far3"]));
  await page.shot("analysis-outliers");

  const q = (await finished(sequences.id)).result;
  await page.goto(`${s.platform.url}/#/analysis/mining/${sequences.id}`);
  const count = page.getByTestId("patterns-count");
  await count.getByText(`Showing ${q.patterns.length} of ${q.patterns.length} patterns`).waitFor();
  const patterns = page.getByRole("region", { name: "Patterns" }).locator("tbody tr");
  assert.equal(await patterns.count(), q.patterns.length);
  const filters = page.getByRole("search", { name: "Pattern filters" });
  await filters.getByLabel("Items").fill("butter");
  await filters.getByLabel("Min support").fill("0.3");
  const want = q.patterns.filter((x) => x.items.includes("butter") && x.support >= 0.3);
  assert.ok(want.length > 0 && want.length < q.patterns.length);
  await count.getByText(`Showing ${want.length} of ${q.patterns.length} patterns`).waitFor();
  assert.deepEqual(
    await patterns.evaluateAll((trs) => trs.map((tr) => tr.cells[0].textContent)),
    want.map((x) => x.items.join("→")),
  );
  await page.shot("analysis-sequences");
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("the list follows running jobs; a queued and a running job cancelled, one deleted", async () => {
  await dataset("big", big());
  const blocker = await call(
    "POST",
    API,
    { kind: "kmeans", source: { dataset: "big" }, params: { k: 200, n_init: 100, max_iter: 100000, tol: 0, init: "random" } },
    202,
  );
  await eventually(async () => (await call("GET", `${API}/${blocker.id}`)).state === "running", "the long job to run");
  const quick = { kind: "kmeans", source: { dataset: "points" }, params: { k: 2 } };
  const first = await call("POST", API, quick, 202);
  const second = await call("POST", API, quick, 202);

  const page = await openPage(s.browser, s.platform);
  await page.goto(`${s.platform.url}/#/analysis`);
  const list = page.getByRole("region", { name: "Mining jobs" });
  const rowOf = (id) => list.getByRole("row").filter({ has: page.getByRole("link", { name: String(id), exact: true }) });
  await rowOf(blocker.id).getByText("running", { exact: true }).waitFor();
  await rowOf(first.id).getByText("queued", { exact: true }).waitFor();
  await page.getByLabel("State", { exact: true }).selectOption("queued");
  await eventually(async () => (await list.locator("tbody tr").count()) === 2, "the queued jobs only");
  assert.deepEqual(await list.locator("tbody tr td:first-child").allTextContents(), [String(second.id), String(first.id)]);
  await page.getByLabel("State", { exact: true }).selectOption("");
  await page.getByLabel("Kind", { exact: true }).selectOption("association_rules");
  await eventually(async () => (await list.locator("tbody tr").count()) === 1, "the rules job only");
  await page.getByLabel("Kind", { exact: true }).selectOption("");
  await rowOf(second.id).waitFor();

  // Cancelled elsewhere: the list sees it by itself.
  assert.equal((await call("POST", `${API}/${second.id}/cancel`)).state, "cancelled");
  await rowOf(second.id).getByText("cancelled", { exact: true }).waitFor({ timeout: 10000 });
  await page.shot("analysis-list");

  // A queued job cancelled from its page.
  await rowOf(first.id).getByRole("link", { name: String(first.id), exact: true }).click();
  const state = page.getByTestId("mining-state");
  await state.getByText("queued", { exact: true }).waitFor();
  await page.getByRole("button", { name: "Cancel" }).click();
  await state.getByText("cancelled", { exact: true }).waitFor();
  assert.equal((await call("GET", `${API}/${first.id}`)).state, "cancelled");
  assert.equal(await page.getByRole("button", { name: "Cancel" }).count(), 0);

  // The running one shows its phase, then is cancelled.
  await page.goto(`${s.platform.url}/#/analysis/mining/${blocker.id}`);
  await state.getByText("running", { exact: true }).waitFor();
  assert.equal(await page.getByTestId("mining-phase").textContent(), " computing");
  await page.shot("analysis-running");
  await page.getByRole("button", { name: "Cancel" }).click();
  await state.getByText("cancelled", { exact: true }).waitFor();
  const cancelled = await call("GET", `${API}/${blocker.id}`);
  assert.equal(cancelled.state, "cancelled");
  assert.equal(cancelled.result, undefined);
  assert.match(await page.getByTestId("mining-duration").textContent(), /^\d+(\.\d)? m?s$|^\dm \d+s$/);

  // Deleted: back on the list, without it.
  page.once("dialog", (dlg) => dlg.accept());
  await page.getByRole("button", { name: "Delete" }).click();
  await page.getByRole("heading", { name: "Analysis", exact: true }).waitFor();
  await rowOf(first.id).waitFor();
  assert.equal(await rowOf(blocker.id).count(), 0);
  assert.equal((await s.platform.api("GET", `${API}/${blocker.id}`)).status, 404);
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});
