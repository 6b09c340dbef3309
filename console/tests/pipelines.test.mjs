// The pipeline pages in headless Chromium against a real aimass: a pipeline created from a
// YAML spec typed into the form, its graph, a run started with params whose steps turn green
// in the graph as they finish, a step's log, a second run served from the cache (naming the
// first), and a failing run resumed from its page. Screenshots: console/test-output/.
import assert from "node:assert/strict";
import { test } from "node:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { platformForTests, eventually, openPage } from "./harness.mjs";

const s = platformForTests();

const SPEC = `name: greet
description: two steps and a fan-out
params:
  who: world
  times: [1, 2]
steps:
  - name: hello
    command: ["sh", "-c", "echo hello \${{ params.who }}; echo ::aimass-output said=\${{ params.who }}"]
  - name: repeat
    needs: [hello]
    foreach: "\${{ params.times }}"
    command: ["sh", "-c", "echo \${{ steps.hello.outputs.said }} x\${{ item }}"]
  - name: done
    needs: [repeat]
    command: ["echo", "done"]
`;

test("create a pipeline, run it, watch its graph, read a log, hit the cache, resume a failure", async () => {
  const page = await openPage(s.browser, s.platform);
  await page.goto(`${s.platform.url}/#/pipelines`);
  await page.getByRole("button", { name: "New pipeline" }).click();
  await page.getByLabel("Spec (YAML or JSON)").fill(SPEC);
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByRole("heading", { name: "Pipeline greet" }).waitFor();
  const graph = page.getByRole("img", { name: "Pipeline graph" });
  for (const step of ["hello", "repeat", "done"]) await graph.getByRole("button", { name: `Step ${step}` }).waitFor();
  await page.shot("pipeline");

  // Run with a param of our own; the run's page follows it to the end.
  await page.getByLabel("Params (JSON)").fill(JSON.stringify({ who: "console", times: [1, 2, 3] }));
  await page.getByRole("button", { name: "Run" }).click();
  await page.getByRole("heading", { name: /^Run \d+ of greet$/ }).waitFor();
  const first = Number((await page.getByRole("heading", { name: /^Run \d+ of greet$/ }).textContent()).split(" ")[1]);
  await graph.getByRole("button", { name: "Step done: succeeded" }).waitFor({ timeout: 60000 });
  await graph.getByRole("button", { name: "Step repeat: succeeded" }).waitFor();
  assert.match(await graph.getByRole("button", { name: "Step repeat: succeeded" }).textContent(), /3\/3 items/);
  await page.getByText("succeeded", { exact: true }).first().waitFor();
  await graph.getByRole("button", { name: "Step repeat: succeeded" }).click();
  await page.getByRole("button", { name: "repeat[2]" }).click();
  await page.getByLabel("Log of repeat[2]").getByText("console x3").waitFor();
  await page.shot("pipeline-run");

  // The same again: every step from the cache, naming the first run.
  const again = await s.platform.api("POST", "/api/v1/pipelines/greet/runs", { params: { who: "console", times: [1, 2, 3] } });
  assert.equal(again.status, 201);
  await page.goto(`${s.platform.url}/#/pipeline-runs/${again.body.id}`);
  await graph.getByRole("button", { name: "Step done: succeeded (cached)" }).waitFor({ timeout: 60000 });
  assert.match(await graph.getByRole("button", { name: "Step hello: succeeded (cached)" }).textContent(), new RegExp(`from run ${first}`));
  await page.getByRole("link", { name: `from run ${first}` }).first().waitFor();

  // A step that fails until a file appears; resumed from the run's page once it does.
  const gate = join(mkdtempSync(join(tmpdir(), "aimass-gate-")), "open");
  const spec = {
    name: "gated",
    steps: [
      { name: "first", command: ["echo", "first"] },
      { name: "second", needs: ["first"], sandbox: false, command: ["sh", "-c", `test -f ${gate}`] },
    ],
  };
  assert.equal((await s.platform.api("POST", "/api/v1/pipelines", spec)).status, 201);
  const failing = await s.platform.api("POST", "/api/v1/pipelines/gated/runs", {});
  await page.goto(`${s.platform.url}/#/pipeline-runs/${failing.body.id}`);
  await graph.getByRole("button", { name: "Step second: failed" }).waitFor({ timeout: 60000 });
  writeFileSync(gate, "open");
  await page.getByRole("button", { name: "Resume" }).click();
  await page.getByRole("heading", { name: `Run ${failing.body.id + 1} of gated` }).waitFor();
  await graph.getByRole("button", { name: "Step second: succeeded" }).waitFor({ timeout: 60000 });
  await graph.getByRole("button", { name: "Step first: succeeded (cached)" }).waitFor();
  await eventually(async () => (await s.platform.api("GET", `/api/v1/pipeline-runs/${failing.body.id + 1}`)).body.resumed_from === failing.body.id, "the resumed run");
  await page.shot("pipeline-resumed");
  await page.close();
});

test("a tune step: its trials fan out, the graph names the best, the trials table marks it", async () => {
  // A small table; the search tries two test fractions of dataset.split and keeps the one
  // that leaves the most training rows.
  assert.equal((await s.platform.api("POST", "/api/v1/datasets", { name: "tunable" })).status, 201);
  const csv = "x,y\n" + Array.from({ length: 40 }, (_, i) => `${i},${i % 2}`).join("\n") + "\n";
  assert.equal((await s.platform.api("POST", "/api/v1/datasets/tunable/versions", csv, undefined, { "Content-Type": "text/csv" })).status, 201);
  const spec = {
    name: "tuned",
    steps: [
      {
        name: "search",
        uses: "tune",
        with: { uses: "dataset.split", with: { dataset: "tunable" }, space: { test_fraction: [0.5, 0.25] }, metric: "train.rows", goal: "max" },
      },
    ],
  };
  assert.equal((await s.platform.api("POST", "/api/v1/pipelines", spec)).status, 201);
  const run = await s.platform.api("POST", "/api/v1/pipelines/tuned/runs", {});
  const page = await openPage(s.browser, s.platform);
  await page.goto(`${s.platform.url}/#/pipeline-runs/${run.body.id}`);
  const graph = page.getByRole("img", { name: "Pipeline graph" });
  const node = graph.getByRole("button", { name: "Step search: succeeded" });
  await node.waitFor({ timeout: 90000 });
  assert.match(await node.textContent(), /best #1: 30/);
  await node.click();
  const trials = page.getByRole("table").last();
  await page.getByRole("heading", { name: "Trials of search" }).waitFor();
  await trials.getByRole("cell", { name: "search[1] ★ best" }).waitFor();
  await trials.getByRole("cell", { name: "search[0]", exact: true }).waitFor();
  await page.shot("pipeline-tune");
  await page.close();
});
