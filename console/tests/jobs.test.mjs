// The cluster's pages in headless Chromium against a real aimass: nodes with what running jobs
// hold drawn as bars, drained and returned from the page; the jobs list; a job's live log and
// its cancel. Screenshots: console/test-output/.
import assert from "node:assert/strict";
import { test } from "node:test";
import { platformForTests, eventually, openPage } from "./harness.mjs";

const s = platformForTests();

function clean(page) {
  assert.deepEqual(page.problems(), [], "the browser saw errors or failed requests");
}

test("the nodes page draws what running jobs hold and drains a node", async () => {
  const job = await s.platform.api("POST", "/api/v1/jobs", { name: "holder", command: ["sleep", "30"], resources: { cpus: 1, memory_mb: 256 } });
  assert.equal(job.status, 201, JSON.stringify(job.body));
  await eventually(async () => (await s.platform.api("GET", `/api/v1/jobs/${job.body.id}`)).body.state === "running", "the job to run");
  const page = await openPage(s.browser, s.platform);
  await page.goto(`${s.platform.url}/#/nodes`);
  const cpu = page.getByRole("meter", { name: "CPU" });
  await cpu.waitFor();
  await eventually(async () => (await cpu.getAttribute("aria-valuenow")) === "1", "the CPU bar to show the job's CPU");
  assert.equal(await page.getByRole("meter", { name: "Memory" }).getAttribute("aria-valuenow"), "256");
  await page.shot("nodes");
  await page.getByRole("button", { name: "Drain" }).click();
  await page.getByText("draining").first().waitFor();
  const nodes = await s.platform.api("GET", "/api/v1/cluster/nodes");
  assert.equal(nodes.body.nodes[0].state, "draining");
  await page.getByRole("button", { name: "Undrain" }).click();
  await page.getByRole("button", { name: "Drain" }).waitFor();
  assert.equal((await s.platform.api("GET", "/api/v1/cluster/nodes")).body.nodes[0].state, "ready");
  assert.equal((await s.platform.api("POST", `/api/v1/jobs/${job.body.id}/cancel`)).status, 200);
  clean(page);
  await page.context().close();
});

test("a job's page follows its log as it is written and cancels it", async () => {
  const job = await s.platform.api("POST", "/api/v1/jobs", {
    name: "talker",
    command: ["sh", "-c", "echo first line; sleep 1.5; echo second line; sleep 120"],
  });
  assert.equal(job.status, 201);
  const page = await openPage(s.browser, s.platform);
  await page.goto(`${s.platform.url}/#/jobs`);
  await page.getByRole("link", { name: String(job.body.id), exact: true }).click();
  const log = page.getByTestId("job-log");
  await log.getByText("first line").waitFor();
  await log.getByText("second line").waitFor();  // arrived after the page opened
  await page.shot("job");
  await page.getByRole("button", { name: "Cancel" }).click();
  await page.getByText("cancelled").first().waitFor();
  await eventually(async () => (await s.platform.api("GET", `/api/v1/jobs/${job.body.id}`)).body.state === "cancelled", "the job to end cancelled");
  assert.equal(await page.getByRole("button", { name: "Cancel" }).count(), 0);
  await page.goto(`${s.platform.url}/#/jobs`);
  await page.getByLabel("State").selectOption("cancelled");
  await page.getByRole("cell", { name: "talker" }).first().waitFor();
  await page.shot("jobs");
  clean(page);
  await page.context().close();
});
