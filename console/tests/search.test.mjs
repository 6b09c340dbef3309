// The search pages in headless Chromium against a real aimass: an index created from the list
// page, the Debian FAQ loaded into it from a dataset through the index's page, a query with its
// highlighted hits and facet counts, a facet clicked into a filter, and an evaluation's
// measures. Screenshots: console/test-output/.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { platformForTests, openPage } from "./harness.mjs";

const s = platformForTests();

// The English Debian FAQ, one row per section (id, chapter, title, body), from the debian-faq package.
function faqCsv() {
  const text = execFileSync("zcat", ["/usr/share/doc/debian/FAQ/debian-faq.en.txt.gz"]).toString().replace(/\u00a0/g, " ");
  const start = text.search(/^Chapter 1\. /m);
  const body = text.slice(start);
  const heads = [...body.matchAll(/^(\d+(?:\.\d+)+)\. (.+)$/gm)];
  const quote = (v) => `"${v.replace(/"/g, '""')}"`;
  let csv = "id,chapter,title,body\n";
  heads.forEach((m, i) => {
    const end = i + 1 < heads.length ? heads[i + 1].index : body.length;
    const text = body.slice(m.index + m[0].length, end).split(/\s+/).join(" ").trim();
    csv += [m[1], m[1].split(".")[0], m[2].trim(), text].map(quote).join(",") + "\n";
  });
  return { csv: Buffer.from(csv), sections: heads.length };
}

test("create an index, load a dataset into it, search with facets and highlights, evaluate", async () => {
  const { csv, sections } = faqCsv();
  assert.ok(sections > 100);
  await s.platform.api("POST", "/api/v1/datasets", { name: "faq" });
  await s.platform.api("POST", "/api/v1/datasets/faq/versions", csv, undefined, { "Content-Type": "text/csv" });

  const page = await openPage(s.browser, s.platform);
  await page.goto(`${s.platform.url}/#/search`);
  await page.getByRole("button", { name: "New index" }).click();
  await page.getByLabel("Name").fill("faq");
  await page
    .getByLabel("Fields (JSON: text, keyword, number)")
    .fill('{"title": {"type": "text", "weight": 3}, "body": {"type": "text"}, "chapter": {"type": "keyword", "facet": true}}');
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByRole("heading", { name: "Index faq" }).waitFor();

  const load = page.getByRole("form", { name: "Load from a dataset" });
  await load.getByLabel("Dataset").fill("faq");
  await load.getByRole("button", { name: "Load and follow" }).click();
  await page.getByTestId("index-documents").getByText(String(sections), { exact: true }).waitFor({ timeout: 30000 });

  await page.getByRole("textbox", { name: "Query" }).fill("kernel modules");
  await page.getByRole("button", { name: "Search" }).click();
  const hits = page.getByRole("list", { name: "Hits" });
  await hits.locator("em").first().waitFor();
  assert.match((await hits.locator("em").first().textContent()).toLowerCase(), /kernel|module/);
  const facets = page.getByRole("complementary", { name: "Facets" });
  await facets.getByRole("button", { name: "10", exact: true }).waitFor();
  const before = Number((await page.getByTestId("search-total").textContent()).split(" ")[0].replace(/,/g, ""));
  await page.shot("search-query");

  // A facet clicked becomes a filter: every hit is then in chapter 10.
  await facets.getByRole("button", { name: "10", exact: true }).click();
  await page.getByLabel("Filter").and(page.locator("[value=\"chapter = '10'\"]")).waitFor();
  await page.waitForFunction((n) => {
    const t = document.querySelector("[data-testid=search-total]")?.textContent ?? "";
    return Number(t.split(" ")[0].replace(/,/g, "")) < n;
  }, before);
  const api = await s.platform.api("POST", "/api/v1/search/indexes/faq/search", { q: "kernel modules", filter: "chapter = '10'", limit: 20 });
  const shown = await hits.locator(":scope > li > strong").allTextContents();
  assert.deepEqual(shown, api.body.hits.map((h) => h.id));

  // Relevance: one judged query, its measures in a table.
  await page.getByLabel("Judged queries (JSON)").fill(JSON.stringify({ queries: [{ id: "k", q: "kernel", judgements: { "10.1": 2, "10.2": 1 } }] }));
  await page.getByRole("button", { name: "Evaluate" }).click();
  const measures = page.getByRole("table", { name: "Relevance measures" });
  await measures.getByRole("row", { name: /ndcg@10/ }).waitFor();
  const ndcg = Number((await measures.getByRole("row", { name: /ndcg@10/ }).getByRole("cell").textContent()));
  assert.ok(ndcg > 0 && ndcg <= 1, `ndcg ${ndcg}`);
  await page.shot("search-evaluate");
});
