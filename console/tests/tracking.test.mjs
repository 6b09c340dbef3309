// The experiment-tracking pages in headless Chromium against a real aimass: an experiment made
// through the form, its runs table filtered in the search language, sorted by a metric and
// given a param column, two runs compared (differing params marked, the best run starred,
// their curves overlaid, the parallel-coordinates chart), and a run's own page (metric and
// system charts, artifacts, lineage). Screenshots: console/test-output/.
import assert from "node:assert/strict";
import { test } from "node:test";
import { platformForTests, openPage } from "./harness.mjs";

const s = platformForTests();

async function ok(p) {
  const r = await p;
  assert.ok(r.status < 300, JSON.stringify(r.body));
  return r.body;
}

// Three runs: lr 0.1 twice (accuracy curves ending at 0.8 and 0.6), lr 0.01 once (0.9).
async function seed(experiment) {
  const runs = [];
  for (const [name, lr, final] of [["fast", "0.1", 0.8], ["slow", "0.01", 0.9], ["noisy", "0.1", 0.6]]) {
    const run = await ok(s.platform.api("POST", "/api/v1/runs", { experiment, name, params: { lr, optimizer: "sgd" } }));
    const metrics = [];
    for (let step = 0; step < 50; step++) {
      metrics.push({ key: "accuracy", value: (final * (step + 1)) / 50, step });
      metrics.push({ key: "loss", value: 1 - (final * (step + 1)) / 50, step });
    }
    for (let i = 0; i < 5; i++) metrics.push({ key: "system/cpu_utilization_percentage", value: 20 + i, step: i, timestamp: Date.now() - (5 - i) * 1000 });
    await ok(s.platform.api("POST", `/api/v1/runs/${run.id}/log`, { metrics, inputs: [{ dataset: "fmnist", version: 1 }] }));
    await ok(s.platform.api("PATCH", `/api/v1/runs/${run.id}`, { status: "succeeded" }));
    runs.push(run);
  }
  await ok(s.platform.api("PUT", `/api/v1/runs/${runs[1].id}/artifacts/eval/report.txt`, "accuracy 0.9"));
  return runs;
}

test("experiments, the runs table, comparing runs and a run's page", async () => {
  const page = await openPage(s.browser, s.platform);
  await page.goto(`${s.platform.url}/#/experiments`);
  await page.getByRole("button", { name: "New experiment" }).click();
  await page.getByLabel("Name").fill("fashion");
  await page.getByLabel("Description").fill("CNNs on Fashion-MNIST");
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByRole("heading", { name: "Experiment fashion" }).waitFor();
  const [fast, slow, noisy] = await seed("fashion");

  // The table: three runs; filtered to lr 0.1; sorted by accuracy (best first).
  const table = page.getByRole("table", { name: "Runs" });
  await table.getByRole("link", { name: "noisy" }).waitFor();
  assert.equal(await table.locator("tbody tr").count(), 3);
  await page.getByLabel("Filter").fill("params.lr = '0.1'");
  await page.getByRole("button", { name: "Search" }).click();
  await table.getByRole("link", { name: "slow" }).waitFor({ state: "detached" });
  assert.equal(await table.locator("tbody tr").count(), 2);
  await page.getByLabel("Filter").fill("");
  await page.getByRole("button", { name: "Search" }).click();
  await table.getByRole("link", { name: "slow" }).waitFor();
  await table.getByRole("button", { name: "metrics.accuracy" }).click();
  await table.getByRole("button", { name: "metrics.accuracy ▼" }).waitFor();
  const names = async () => (await table.locator("tbody tr td:nth-child(2)").allTextContents()).join(",");
  await page.waitForFunction(() => document.querySelector("table[aria-label=Runs] tbody tr td:nth-child(2)")?.textContent === "slow");
  assert.equal(await names(), "slow,fast,noisy");
  await table.getByRole("button", { name: "metrics.accuracy ▼" }).click();
  await page.waitForFunction(() => document.querySelector("table[aria-label=Runs] tbody tr td:nth-child(2)")?.textContent === "noisy");
  assert.equal(await names(), "noisy,fast,slow");
  // lr differs between the runs, so it is a column already; optimizer does not, so it is added.
  await table.getByRole("button", { name: "params.lr" }).waitFor();
  await page.getByText("Columns").click();
  await page.getByRole("checkbox", { name: "params.optimizer" }).check();
  await table.getByRole("button", { name: "params.optimizer" }).waitFor();
  assert.equal(await table.getByRole("cell", { name: "sgd" }).count(), 3);
  await page.shot("experiment-runs");

  // Compare fast and slow.
  await page.getByRole("checkbox", { name: "Pick fast" }).check();
  await page.getByRole("checkbox", { name: "Pick slow" }).check();
  await page.getByRole("button", { name: "Compare 2 runs" }).click();
  await page.getByRole("heading", { name: "Compare 2 runs" }).waitFor();
  const cmp = page.getByRole("table", { name: "Comparison" });
  await cmp.getByRole("rowheader", { name: "lr (differs)" }).waitFor();
  await cmp.getByRole("rowheader", { name: "optimizer", exact: true }).waitFor();
  const accuracy = cmp.getByRole("row", { name: /accuracy \(last \/ max\)/ });
  assert.match(await accuracy.textContent(), /0\.9 \/ 0\.9 ★/);
  const loss = cmp.getByRole("row", { name: /loss \(last \/ min\)/ });
  assert.match(await loss.textContent(), /0\.1 \/ 0\.1 ★/);
  await page.locator(".chart[data-points='50']").first().waitFor();
  assert.equal(await page.locator(".charts .chart").count(), 2); // accuracy and loss, not system
  const parallel = page.getByRole("img", { name: "Parallel coordinates" });
  await parallel.waitFor();
  assert.equal(await parallel.locator("polyline").count(), 2);
  await page.shot("compare-runs");

  // A run's page.
  await cmp.getByRole("link", { name: "slow" }).click();
  await page.getByRole("heading", { name: "Run slow" }).waitFor();
  await page.getByRole("cell", { name: "0.01", exact: true }).waitFor();
  await page.getByRole("heading", { name: "Metric charts" }).waitFor();
  await page.getByRole("heading", { name: "System metrics" }).waitFor();
  await page.locator(".chart[data-points='5']").waitFor();
  assert.equal(await page.locator(".chart[data-points='50']").count(), 2);
  await page.getByRole("button", { name: "eval/report.txt" }).waitFor();
  const lineage = page.getByRole("list", { name: "Lineage" });
  assert.equal(await lineage.getByRole("link", { name: "fmnist v1" }).getAttribute("href"), "#/datasets/fmnist/versions/1");
  await page.shot("run");

  // Deleting a run from its page takes it out of the experiment.
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Delete run" }).click();
  await page.getByRole("heading", { name: "Experiment fashion" }).waitFor();
  assert.equal((await s.platform.api("GET", `/api/v1/runs/${slow.id}`)).status, 404);
  assert.equal((await s.platform.api("GET", `/api/v1/runs/${fast.id}`)).status, 200);
  assert.equal((await s.platform.api("GET", `/api/v1/runs/${noisy.id}`)).status, 200);
  await page.close();
});
