// The datasets pages in headless Chromium against a real aimass: a dataset created from the
// list page, a CSV uploaded through the form, the version's rows, its profile with a histogram
// per column, an expectation suite saved on the dataset's page and failing on the next upload,
// and drift between the two versions. Screenshots: console/test-output/.
import assert from "node:assert/strict";
import { test } from "node:test";
import { platformForTests, eventually, openPage } from "./harness.mjs";

const s = platformForTests();

function orders(rows, start = 0, price = (i) => (i % 50) + 0.5) {
  let csv = "id,country,price,at\n";
  for (let i = start; i < start + rows; i++) {
    csv += `${i},${["UK", "FR", "DE"][i % 3]},${price(i)},2024-01-${String((i % 28) + 1).padStart(2, "0")}T10:00:00Z\n`;
  }
  return Buffer.from(csv);
}

test("create a dataset, upload a version, see its rows and profile, check it and compare versions", async () => {
  const page = await openPage(s.browser, s.platform);
  await page.goto(`${s.platform.url}/#/datasets`);
  await page.getByRole("button", { name: "New dataset" }).click();
  await page.getByLabel("Name").fill("orders");
  await page.getByLabel("Description").fill("shop orders");
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByRole("heading", { name: "Dataset orders" }).waitFor();

  // Upload through the form: the page moves to the new version once it is stored.
  await page.getByRole("button", { name: "Upload version" }).click();
  await page.locator("input[name=data]").setInputFiles({ name: "orders.csv", mimeType: "text/csv", buffer: orders(300) });
  await page.getByRole("button", { name: "Upload" }).click();
  await page.getByRole("heading", { name: "orders version 1" }).waitFor();
  const v1 = (await s.platform.api("GET", "/api/v1/datasets/orders/versions/1")).body;
  assert.equal(v1.row_count, 300);
  assert.deepEqual(v1.schema.map((c) => c.type), ["integer", "categorical", "float", "timestamp"]);

  const rows = page.getByRole("table", { name: "Rows" });
  await rows.getByRole("cell", { name: "24", exact: true }).first().waitFor();
  await page.getByText("rows 1–25 of 300").waitFor();
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByText("rows 26–50 of 300").waitFor();
  const price = page.getByRole("article", { name: "Column price" });
  await price.getByRole("img", { name: "Histogram of price" }).waitFor();
  assert.match(await price.textContent(), /Distinct50/);
  await page.getByRole("article", { name: "Column country" }).getByRole("img", { name: "Top values of country" }).waitFor();
  await page.getByRole("table", { name: "Correlations" }).waitFor();
  await page.shot("dataset-version");

  // A suite saved on the dataset's page runs on the next version: one negative price fails it.
  await page.goto(`${s.platform.url}/#/datasets/orders`);
  await page.getByLabel("Expectation suite").fill(
    JSON.stringify({ expectations: [{ expectation_type: "expect_column_values_to_be_between", kwargs: { column: "price", min_value: 0 } }] }),
  );
  await page.getByRole("button", { name: "Save suite" }).click();
  await page.getByText("Saved: it runs on every new version.").waitFor();
  await page.getByRole("button", { name: "Upload version" }).click();
  await page.locator("input[name=data]").setInputFiles({ name: "more.csv", mimeType: "text/csv", buffer: orders(300, 300, (i) => (i === 450 ? -5 : i % 7)) });
  await page.getByRole("button", { name: "Upload" }).click();
  await page.getByRole("heading", { name: "orders version 2" }).waitFor();
  await page.getByRole("heading", { name: "Expectation results" }).waitFor();
  await page.getByText("0 of 1 passed").waitFor();
  await page.getByRole("cell", { name: /1 \(0\.333.*%\) -5/ }).waitFor();
  await eventually(async () => (await s.platform.api("GET", "/api/v1/datasets/orders/versions/2")).body.validation === "failed", "version 2 to fail");

  // Drift against version 1: prices moved from 0.5-49.5 to 0-6.
  await page.getByLabel("Against version").waitFor();
  const priceRow = page.getByRole("row", { name: /^price integer/ });
  await priceRow.getByText("drifted").waitFor();
  await page.shot("dataset-drift");
  await page.goto(`${s.platform.url}/#/datasets`);
  await page.getByRole("row", { name: /^orders table 2 300 shop orders admin/ }).waitFor();  // latest version and its rows
  assert.deepEqual(page.problems(), [], "the browser saw errors or failed requests");
  await page.context().close();
});

test("a collector made from its page takes pushes, shows its rows and rejections, pauses and resumes", async () => {
  assert.equal((await s.platform.api("POST", "/api/v1/datasets", { name: "clicks" })).status, 201);
  const page = await openPage(s.browser, s.platform);
  await page.goto(`${s.platform.url}/#/collectors`);
  await page.getByRole("button", { name: "New collector" }).click();
  await page.getByLabel("Name").fill("clicks-in");
  await page.getByLabel("Dataset").fill("clicks");
  await page.getByLabel(/^Source/).fill('{"type": "http"}');
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByRole("heading", { name: "Collector clicks-in" }).waitFor();
  await page.getByText("POST /api/v1/collect/clicks-in").waitFor();
  const rows = Array.from({ length: 40 }, (_, i) => JSON.stringify({ user: `u${i % 4}`, page: `/p${i}` })).join("\n");
  const push = await s.platform.api("POST", "/api/v1/collect/clicks-in", rows + "\nnot json\n");
  assert.equal(push.status, 200, JSON.stringify(push.body));
  assert.deepEqual(push.body, { accepted: 40, rejected: 1 });
  await page.getByTestId("collector-rows").getByText(/^40 since start/).waitFor();
  await page.getByRole("cell", { name: "not valid JSON" }).waitFor();
  await page.getByRole("button", { name: "Pause" }).click();
  await page.getByText("paused").first().waitFor();
  await page.getByRole("button", { name: "Resume" }).click();
  await page.getByRole("button", { name: "Pause" }).waitFor();
  await page.shot("collector");
  await page.goto(`${s.platform.url}/#/collectors`);
  await page.getByRole("row", { name: /^clicks-in clicks http running 40/ }).waitFor();
  assert.deepEqual(page.problems(), [], "the browser saw errors or failed requests");
  await page.context().close();
});
