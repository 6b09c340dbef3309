// The recommendation pages in headless Chromium against a real aimass: an app created from its
// JSON on the list page, its catalogue (30 items in 3 categories) and a few hundred pieces of
// feedback from 40 users (sessions over 60 days, made here from a seeded generator) sent through
// the API, the app trained with its Train button (a real pipeline run), then a user's history
// beside their 10 recommendations with a reason each, as the API answers them for the chosen
// algorithm and category; the catalogue's pages and an item's similar items; an offline
// evaluation started from the page (the last 14 days as the truth) with its row per algorithm;
// and an A/B experiment made on the page, its exposures and clicks as the API counts them, and
// stopped. Screenshots: console/test-output/.
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, openPage, platformForTests, random } from "./harness.mjs";

const s = platformForTests();
const APP = "/api/v1/recommend/apps/shop";
const DAY = 86400000;
const END_MS = Date.UTC(2025, 0, 31, 12);
const CATEGORIES = ["books", "music", "games"];
const NOUN = { books: "Book", music: "Album", games: "Game" };

const ITEMS = Array.from({ length: 30 }, (_, k) => {
  const category = CATEGORIES[k % 3];
  return { id: `i${String(k).padStart(2, "0")}`, categories: [category], properties: { title: `${NOUN[category]} ${Math.floor(k / 3) + 1}` } };
});

// 40 users, each with a favourite category (4 in 5 of their choices), 3 to 6 sessions of 2 to
// 4 items spread over the last 60 days; lower-numbered items are the more popular ones.
function makeFeedback() {
  const r = random(7);
  const out = [];
  for (let u = 0; u < 40; u++) {
    const user = `u${String(u).padStart(2, "0")}`;
    const sessions = 3 + Math.floor(r() * 4);
    for (let n = 0; n < sessions; n++) {
      const start = END_MS - Math.floor(r() * 60 * DAY);
      const items = 2 + Math.floor(r() * 3);
      for (let k = 0; k < items; k++) {
        const category = r() < 0.8 ? u % 3 : Math.floor(r() * 3);
        const rank = Math.min(9, Math.floor(-Math.log(1 - r()) * 3));
        const x = r();
        out.push({
          user,
          item: ITEMS[rank * 3 + category].id,
          type: x < 0.6 ? "view" : x < 0.85 ? "cart" : "purchase",
          timestamp: start + k * 120000,
          session: `${user}-s${n}`,
        });
      }
    }
  }
  return out;
}
const FEEDBACK = makeFeedback();

async function call(method, path, body, status = 200) {
  const r = await s.platform.api(method, path, body);
  assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
  return r.body;
}

const num4 = (x) => x.toFixed(4);
const pct = (x) => `${(x * 100).toFixed(2)}%`;
const cells = (row) => row.getByRole("cell").allTextContents();

async function appPage(tab) {
  const page = await openPage(s.browser, s.platform);
  await page.goto(`${s.platform.url}/#/recommend/apps/shop`);
  await page.getByRole("heading", { name: "App shop" }).waitFor();
  if (tab) await page.getByRole("tab", { name: tab }).click();
  return page;
}

test("an app made on the list page, fed through the API, trained with its Train button", async () => {
  assert.ok(FEEDBACK.length >= 300 && FEEDBACK.length <= 700, `${FEEDBACK.length} pieces of feedback`);
  const page = await openPage(s.browser, s.platform);
  await page.goto(`${s.platform.url}/#/recommend`);
  await page.getByText("No recommender apps").waitFor();
  await page.getByRole("button", { name: "New app" }).click();
  const form = page.getByRole("form", { name: "New app" });
  assert.deepEqual(JSON.parse(await form.getByLabel("App (JSON)").inputValue()).feedback_types, { view: 1, cart: 3, purchase: 5 });
  await form
    .getByLabel("App (JSON)")
    .fill(JSON.stringify({ name: "shop", feedback_types: { view: 1, cart: 3, purchase: 5 }, exclude_consumed: true }));
  await form.getByRole("button", { name: "Create" }).click();
  await page.getByRole("heading", { name: "App shop" }).waitFor();
  await page.getByTestId("app-state").getByText("untrained", { exact: true }).waitFor();

  assert.deepEqual(await call("POST", `${APP}/items`, { items: ITEMS }), { items: 30 });
  assert.deepEqual(await call("POST", `${APP}/feedback`, { feedback: FEEDBACK }), { accepted: FEEDBACK.length });
  const users = new Set(FEEDBACK.map((f) => f.user)).size;

  // The list shows the counts the API has.
  await page.goto(`${s.platform.url}/#/recommend`);
  const row = page.getByRole("row").filter({ has: page.getByRole("link", { name: "shop" }) });
  await row.getByRole("cell", { name: FEEDBACK.length.toLocaleString(), exact: true }).waitFor();
  assert.deepEqual((await cells(row)).slice(1, 6), ["untrained", "30", String(users), FEEDBACK.length.toLocaleString(), "—"]);
  await page.shot("recommend-apps");

  await row.getByRole("link", { name: "shop" }).click();
  await page.getByRole("button", { name: "Train", exact: true }).click();
  await page.getByTestId("app-state").getByText("training", { exact: true }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Train", exact: true }).isDisabled(), true);
  await page.getByTestId("app-state").getByText("trained", { exact: true }).waitFor({ timeout: 180000 });
  const app = await call("GET", APP);
  assert.equal(app.state, "trained");
  assert.equal(app.model_version, 1);
  assert.equal(await page.getByTestId("app-model-version").textContent(), "recommend-shop version 1");
  assert.match(await page.getByTestId("app-counts").textContent(), new RegExp(`^30 items .*, ${users} users, ${FEEDBACK.length} pieces of feedback$`));
  const trained = await page.getByTestId("trained-events").textContent();
  assert.equal(app.trained.info.events, FEEDBACK.length);
  assert.match(trained, new RegExp(`^${FEEDBACK.length} pieces of feedback \\(${app.trained.info.pairs} user–item pairs\\) of ${users} users on ${app.trained.items} items$`));
  for (const a of ["item_knn", "session", "als", "bpr"]) await page.getByRole("cell", { name: a, exact: true }).waitFor();
  await page.shot("recommend-overview");
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("the Users tab shows a user's history beside 10 recommendations with a reason each", async () => {
  const user = "u01";
  const view = await call("GET", `${APP}/users/${user}?history=50`);
  const all = await call("GET", `${APP}/users/${user}?history=1000`);
  const consumed = new Set(all.history.map((h) => h.item));
  const ranker = await call("GET", `${APP}/users/${user}/recommendations?n=10&algorithm=ranker`);
  assert.equal(ranker.items.length, 10);

  const page = await appPage("Users");
  await page.getByLabel("User", { exact: true }).fill(user);
  await page.getByRole("button", { name: "Show" }).click();
  const history = page.getByRole("heading", { name: `History of ${user}` }).locator("xpath=..").getByRole("table");
  await history.waitFor();
  const rows = history.locator("tbody tr");
  assert.equal(await rows.count(), view.history.length);
  for (let k = 0; k < view.history.length; k++) {
    const h = view.history[k];
    const [, item, title, type, session] = await cells(rows.nth(k));
    assert.deepEqual([item, title, type, session], [h.item, ITEMS.find((i) => i.id === h.item).properties.title, h.type, h.session]);
  }

  // The recommendations as the API gives them: ids in order, each with its reason and score;
  // none the user already chose (the app excludes consumed items).
  const list = page.getByRole("list", { name: "Recommendations" });
  await list.locator(":scope > li").nth(9).waitFor();
  const shown = async () => list.locator(":scope > li").evaluateAll((lis) => lis.map((li) => li.dataset.item));
  assert.deepEqual(await shown(), ranker.items.map((i) => i.id));
  for (const [k, r] of ranker.items.entries()) {
    const li = list.locator(":scope > li").nth(k);
    assert.ok(r.reason.text.length > 0);
    assert.equal(await li.locator(".reason").textContent(), r.reason.text);
    assert.match(await li.textContent(), new RegExp(`score ${num4(r.score).replace(".", "\\.")}.*\\(${r.reason.algorithm}\\)`));
    assert.ok(!consumed.has(r.id), `${r.id} was consumed by ${user}`);
  }
  assert.match(await page.getByTestId("served-by").textContent(), /^Served by ranker, model version 1$/);
  await page.shot("recommend-user");

  // Another algorithm and a category: the page asks for them.
  const als = await call("GET", `${APP}/users/${user}/recommendations?n=10&algorithm=als&category=books`);
  assert.ok(als.items.length > 0 && als.items.every((i) => i.categories.includes("books")));
  await page.locator('select[name="algorithm"]').selectOption("als");
  await page.locator('select[name="category"]').selectOption("books");
  await page.getByTestId("served-by").getByText("Served by als", { exact: false }).waitFor();
  await eventually(async () => JSON.stringify(await shown()) === JSON.stringify(als.items.map((i) => i.id)), "the als answer in books");
  for (const [k, r] of als.items.entries()) assert.equal(await list.locator(":scope > li").nth(k).locator(".reason").textContent(), r.reason.text);
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("the Catalogue tab pages through the items and shows an item's similar items", async () => {
  const first = await call("GET", `${APP}/items?limit=25`);
  const page = await appPage("Catalogue");
  const table = page.getByRole("region", { name: "Catalogue" }).getByRole("table").first();
  await table.getByRole("button", { name: "i00" }).waitFor();
  const rows = table.locator("tbody tr");
  assert.equal(await rows.count(), 25);
  for (let k = 0; k < 25; k++) {
    const i = first.items[k];
    assert.deepEqual(await cells(rows.nth(k)), [i.id, i.properties.title, i.categories.join(""), String(+i.popularity.toFixed(2)), ""]);
  }
  assert.ok(first.items.some((i) => i.popularity > 0));
  await page.getByRole("button", { name: "Next" }).click();
  await table.getByRole("button", { name: "i29" }).waitFor();
  assert.equal(await rows.count(), 5);
  assert.equal(await page.getByRole("button", { name: "Next" }).isDisabled(), true);
  await page.getByRole("button", { name: "Previous" }).click();
  await table.getByRole("button", { name: "i00" }).click();

  const similar = await call("GET", `${APP}/items/i00/similar?n=10`);
  assert.ok(similar.items.length >= 3, JSON.stringify(similar));
  const box = page.getByRole("region", { name: "Similar items" });
  await box.getByRole("heading", { name: "Similar to i00 (Book 1)" }).waitFor();
  const srows = box.locator("tbody tr");
  await srows.first().waitFor();
  assert.equal(await srows.count(), similar.items.length);
  for (const [k, x] of similar.items.entries()) {
    const [id, title, , score, why] = await cells(srows.nth(k));
    assert.deepEqual([id, title, score, why], [x.id, ITEMS.find((i) => i.id === x.id).properties.title, num4(x.score), x.reason.text]);
    // Reasons name the item by its title.
    assert.ok(why.endsWith(` ${ITEMS.find((i) => i.id === "i00").properties.title}`), why);
  }
  await page.shot("recommend-catalogue");
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("an evaluation started on the page shows a row per algorithm, the best marked", async () => {
  const page = await appPage("Evaluation");
  await page.getByText("No evaluations yet").waitFor();
  await page.getByLabel("Test days").fill("14");
  await page.getByRole("button", { name: "Evaluate", exact: true }).click();
  const table = page.getByRole("table", { name: "Evaluation 1" });
  await table.waitFor({ timeout: 120000 });
  const e = await call("GET", `${APP}/evaluations/1`);
  assert.equal(e.state, "succeeded", JSON.stringify(e));
  // The page asked for the last 14 days of the feedback as the truth.
  const newest = Math.max(...FEEDBACK.map((f) => f.timestamp));
  assert.equal(Date.parse(e.request.split_at), newest - 14 * DAY);
  const r = e.result;
  assert.deepEqual(r.algorithms.map((a) => a.name).sort(), ["als", "bpr", "history", "item_knn", "popular", "ranker", "recent", "session"]);
  const rows = table.locator("tbody tr");
  assert.equal(await rows.count(), r.algorithms.length);
  for (const [k, a] of r.algorithms.entries()) {
    const row = rows.nth(k);
    assert.match(await row.getByRole("rowheader").textContent(), new RegExp(`^${a.name}`));
    assert.deepEqual(await cells(row), [a.precision, a.recall, a.ndcg, a.map, a.hit_rate, a.coverage].map(num4));
    assert.equal(await row.getAttribute("data-best"), a.name === r.best ? "true" : null);
  }
  assert.ok(r.best && r.best_ndcg_over_baseline > 0, JSON.stringify(r));
  assert.equal(
    await page.getByTestId("evaluation-best").textContent(),
    `Best: ${r.best}, NDCG@10 ${r.best_ndcg_over_baseline.toFixed(2)}× the popular baseline`,
  );
  await page.shot("recommend-evaluation");
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("an experiment made on the page shows its variants' exposures and clicks, and stops", async () => {
  const page = await appPage("Experiments");
  await page.getByRole("button", { name: "New experiment" }).click();
  const form = page.getByRole("form", { name: "New experiment" });
  await form.getByLabel("Name", { exact: true }).fill("pop-vs-als");
  assert.equal(await form.getByLabel("Variant 1 algorithm").inputValue(), "popular");
  await form.getByLabel("Variant 2 name").fill("als");
  await form.getByLabel("Variant 2 algorithm").selectOption("als");
  await form.getByRole("button", { name: "Start" }).click();
  const box = page.getByRole("region", { name: "Experiment pop-vs-als" });
  await box.getByRole("cell", { name: "control (control)" }).waitFor();
  const made = await call("GET", `${APP}/experiments/pop-vs-als`);
  assert.deepEqual(made.variants.map((v) => [v.name, v.algorithm, v.weight, v.exposures]), [["control", "popular", 1, 0], ["als", "als", 1, 0]]);

  // Clients ask for recommendations (each user falls in a variant) and click some of them.
  const clicks = [];
  for (let u = 0; u < 16; u++) {
    const user = `u${String(u).padStart(2, "0")}`;
    const answer = await call("GET", `${APP}/users/${user}/recommendations?n=5`);
    assert.equal(answer.experiment, "pop-vs-als");
    if (u % 2 === 0) clicks.push({ user, item: answer.items[0].id, type: "view" });
    if (u % 4 === 0) clicks.push({ user, item: answer.items[1].id, type: "purchase" });
  }
  await call("POST", `${APP}/feedback`, { feedback: clicks });
  const result = await call("GET", `${APP}/experiments/pop-vs-als`);
  assert.equal(result.variants.reduce((n, v) => n + v.exposures, 0), 16 * 5);
  assert.ok(result.variants.every((v) => v.users > 0), JSON.stringify(result.variants));
  assert.ok(result.variants.some((v) => v.clicks > 0));

  // The page (polling) shows the same counts, rates and tests against the control.
  const table = box.getByRole("table");
  for (const v of result.variants) {
    const row = table.getByRole("row").filter({ has: page.getByRole("cell", { name: v.name === "control" ? "control (control)" : v.name, exact: true }) });
    await row.getByRole("cell", { name: String(v.exposures), exact: true }).waitFor({ timeout: 15000 });
    const expected = [
      v.name === "control" ? "control (control)" : v.name,
      v.algorithm,
      "1",
      String(v.users),
      String(v.exposures),
      String(v.clicks),
      pct(v.ctr),
      String(v.conversions),
      pct(v.conversion_rate),
      v.vs_control ? `p ${v.vs_control.ctr_p_value.toFixed(4)}${v.vs_control.ctr_significant ? " ✓ significant" : ""}` : "—",
      v.vs_control ? `p ${v.vs_control.conversion_p_value.toFixed(4)}${v.vs_control.conversion_significant ? " ✓ significant" : ""}` : "—",
    ];
    await eventually(async () => JSON.stringify(await cells(row)) === JSON.stringify(expected), `the ${v.name} row: ${expected.join(" | ")}`);
  }
  const bars = box.getByRole("list", { name: "Click-through by variant" });
  assert.deepEqual(await bars.locator(".histogram-count").allTextContents(), result.variants.map((v) => pct(v.ctr)));
  await page.shot("recommend-experiment");

  await box.getByRole("button", { name: "Stop" }).click();
  await box.getByText("stopped", { exact: true }).first().waitFor();
  assert.equal((await call("GET", `${APP}/experiments/pop-vs-als`)).state, "stopped");
  assert.equal((await call("GET", `${APP}/users/u00/recommendations?n=5`)).experiment, undefined);
  await page.getByRole("cell", { name: "control: popular ×1, als: als ×1" }).waitFor();
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});
