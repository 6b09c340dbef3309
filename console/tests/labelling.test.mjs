// The labelling pages in headless Chromium against a real aimass. A one-class project over 12
// short support tickets (card, balance, refund; keys c, b, r; two labels an item) with a
// keyword labelling function applied, so that the refund tickets carry a pre-label: the
// annotation screen labelled by keys only, each label checked through the API (with its
// lead_ms); Backspace takes the last label back (the API loses it, the screen shows that task
// again), the arrows and [ ] go back to relabel, Ctrl+Z takes back a relabel, Enter accepts the
// pre-labels, and the queue runs dry ("No more tasks"). A second annotator labels through the
// API, disagreeing twice; the project's page shows the API's progress, review table (accept
// agreed, accept one, reject one), agreement (Fleiss' kappa overall and per label, the pair,
// the annotators), labelling functions (one added through the form, applied) and the export
// with a link to its dataset version. A spans project made through the form (an emoji before
// the words, so that offsets are code points): words selected with the mouse, marked by keys,
// Delete, Enter; a multi-label project by toggling keys and Enter; a boxes project on a files
// dataset of PNGs: boxes dragged on the image, classes by keys, Enter. Screenshots:
// console/test-output/.
import assert from "node:assert/strict";
import { test } from "node:test";
import { crc32, deflateSync } from "node:zlib";
import { createTar } from "nanotar";
import { eventually, openPage, platformForTests } from "./harness.mjs";

const s = platformForTests();
const P = "/api/v1/labelling/projects";

async function call(method, path, body, status = 200, token = undefined) {
  const r = await s.platform.api(method, path, body, token);
  assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
  return r.body;
}

async function tableDataset(name, csv) {
  await call("POST", "/api/v1/datasets", { name }, 201);
  const up = await s.platform.api("POST", `/api/v1/datasets/${name}/versions`, csv, undefined, { "Content-Type": "text/csv" });
  assert.equal(up.status, 201, JSON.stringify(up.body));
  await eventually(async () => (await call("GET", `/api/v1/datasets/${name}/versions/1`)).status === "ready", `dataset ${name}`, 60000);
}

// Twelve tickets, their intent, and (for the refund ones) the keyword function's pre-label.
const TICKETS = [
  ["my card was declined", "card"],
  ["what is my balance", "balance"],
  ["I want a refund", "refund"],
  ["card stuck in the machine", "card"],
  ["balance looks wrong", "balance"],
  ["refund my last payment", "refund"],
  ["new card please", "card"],
  ["show my balance", "balance"],
  ["where is my refund", "refund"],
  ["card expired", "card"],
  ["balance after transfer", "balance"],
  ["refund not received", "refund"],
];
const TRUTH = Object.fromEntries(TICKETS.map(([, c], i) => [i, c]));

// Every item's labels by annotator, as the API holds them.
async function labels(project, token) {
  const r = await call("GET", `${P}/${project}/items?state=all&limit=1000`, undefined, 200, token);
  const out = {};
  for (const it of r.items) out[it.id] = Object.fromEntries(it.labels.map((l) => [l.annotator, l.value]));
  return out;
}
// The admin's labels only: {item: value} for the items they labelled.
async function mine(project) {
  const all = await labels(project);
  return Object.fromEntries(Object.entries(all).flatMap(([id, by]) => (by.admin === undefined ? [] : [[Number(id), by.admin]])));
}

// The task on screen is `id` (its heading and, with texts, its text).
async function onTask(page, id, text) {
  await page.getByTestId("task-id").getByText(`Task ${id}`, { exact: true }).waitFor();
  if (text !== undefined) assert.equal(await page.getByTestId("task-text").textContent(), text);
}

const f3 = (v) => (v === null || v === undefined ? "—" : v.toFixed(3));
const pct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);

test("a one-class project labelled by keys: undo, go back and relabel, accept pre-labels, the queue runs dry; review, agreement, functions, export", async () => {
  const csv = `text,channel\n${TICKETS.map(([t], i) => `${t},${["app", "web", "phone"][i % 3]}`).join("\n")}\n`;
  await tableDataset("tickets", csv);
  await call(
    "POST",
    P,
    {
      name: "intents",
      dataset: "tickets",
      schema: { kind: "single", classes: ["card", "balance", "refund"], keys: ["c", "b", "r"], text_column: "text", show_columns: ["channel"] },
      overlap: 2,
      order: "sequential",
      instructions: "Pick the customer's intent.",
    },
    201,
  );
  await call("POST", `${P}/intents/functions`, { name: "kw_refund", kind: "keyword", keywords: ["refund"], label: "refund" });
  const applied = await call("POST", `${P}/intents/functions/apply`);
  assert.equal(applied.labelled_items, 4);
  const pre = await call("GET", `${P}/intents/tasks/2`);
  assert.equal(pre.prelabel.source, "functions");
  assert.equal(pre.prelabel.value, "refund");
  assert.equal((await call("GET", `${P}/intents/tasks/1`)).prelabel, undefined);

  const page = await openPage(s.browser, s.platform);
  const posts = [];
  page.on("request", (r) => {
    const m = r.url().match(/\/labelling\/projects\/intents\/tasks\/(\d+)\/labels$/);
    if (m && r.method() === "POST") posts.push({ id: Number(m[1]), ...r.postDataJSON() });
  });
  await page.getByRole("link", { name: "Labelling", exact: true }).click();
  await page.getByRole("heading", { name: "Labelling", exact: true }).waitFor();
  const row = page.getByRole("region", { name: "Labelling projects" }).getByRole("row").filter({ has: page.getByRole("link", { name: "intents", exact: true }) });
  await row.getByText("0 / 12 labelled, 0 accepted").waitFor();
  assert.equal(await row.getByRole("meter").getAttribute("aria-valuemax"), "12");
  await row.getByRole("link", { name: "Annotate" }).click();

  // The first task: its text large, the shown column, the classes with their keys.
  await onTask(page, 0, TICKETS[0][0]);
  const columns = page.locator('dl[aria-label="Columns"]');
  assert.deepEqual(await columns.locator("dt").allTextContents(), ["channel"]);
  assert.deepEqual(await columns.locator("dd").allTextContents(), ["app"]);
  const classes = page.getByRole("group", { name: "Classes" }).getByRole("button");
  assert.deepEqual(await classes.allTextContents(), ["c card", "b balance", "r refund"]);
  await page.getByText("Pick the customer's intent.").waitFor();
  assert.equal(await page.getByTestId("prelabel").count(), 0);
  await page.getByTestId("session-count").getByText("0 labelled this session").waitFor();

  // Keys only: c, b, then Enter on the refund pre-label, c, and r (a wrong one for item 4).
  await page.keyboard.press("c");
  await onTask(page, 1, TICKETS[1][0]);
  await page.keyboard.press("b");
  await onTask(page, 2, TICKETS[2][0]);
  const prelabel = page.getByTestId("prelabel");
  assert.match(await prelabel.textContent(), new RegExp(`^Pre-label refund \\(labelling functions, score ${pre.prelabel.score.toFixed(3)}\\) — Enter accepts it$`));
  assert.match(await page.getByRole("button", { name: "r refund" }).getAttribute("class"), /\bpre\b/);
  assert.doesNotMatch(await page.getByRole("button", { name: "c card" }).getAttribute("class"), /\bpre\b/);
  await page.shot("labelling-annotate-prelabel");
  await page.keyboard.press("Enter");
  await onTask(page, 3, TICKETS[3][0]);
  await page.keyboard.press("c");
  await onTask(page, 4, TICKETS[4][0]);
  await page.keyboard.press("r");
  await onTask(page, 5, TICKETS[5][0]);
  await page.getByTestId("session-count").getByText("5 labelled this session").waitFor();
  assert.deepEqual(await mine("intents"), { 0: "card", 1: "balance", 2: "refund", 3: "card", 4: "refund" });
  assert.deepEqual(
    posts.map((x) => [x.id, x.value]),
    [[0, "card"], [1, "balance"], [2, "refund"], [3, "card"], [4, "refund"]],
  );
  for (const x of posts) assert.ok(Number.isInteger(x.lead_ms) && x.lead_ms >= 0 && x.lead_ms < 60000, `lead_ms ${x.lead_ms}`);

  // Backspace: the last label (item 4's) is gone from the API and item 4 is on screen again.
  await page.keyboard.press("Backspace");
  await onTask(page, 4, TICKETS[4][0]);
  await page.getByTestId("notice").getByText("Took back your label of task 4.").waitFor();
  await page.getByTestId("session-count").getByText("4 labelled this session").waitFor();
  assert.deepEqual(await mine("intents"), { 0: "card", 1: "balance", 2: "refund", 3: "card" });
  assert.equal(await page.getByTestId("mine").count(), 0);
  await page.keyboard.press("b");
  await onTask(page, 5, TICKETS[5][0]);
  assert.equal((await mine("intents"))[4], "balance");

  // Back with the arrows: item 4 shows its label; relabel item 3, which leads on to item 5.
  await page.keyboard.press("ArrowLeft");
  await onTask(page, 4, TICKETS[4][0]);
  assert.equal(await page.getByTestId("mine").textContent(), "your label: balance");
  assert.equal(await page.getByRole("button", { name: "b balance" }).getAttribute("aria-pressed"), "true");
  await page.keyboard.press("ArrowLeft");
  await onTask(page, 3, TICKETS[3][0]);
  assert.equal(await page.getByTestId("mine").textContent(), "your label: card");
  await page.keyboard.press("r");
  await onTask(page, 5, TICKETS[5][0]);
  assert.equal((await mine("intents"))[3], "refund");
  await page.keyboard.press("[");
  await onTask(page, 4);
  await page.keyboard.press("[");
  await onTask(page, 3);
  assert.equal(await page.getByTestId("mine").textContent(), "your label: refund");
  await page.keyboard.press("]");
  await onTask(page, 4);
  await page.keyboard.press("ArrowRight");
  await onTask(page, 5);
  // Right at the newest task stays there.
  await page.keyboard.press("ArrowRight");
  await page.getByTestId("notice").getByText("This is the newest task of this session: label it to go on.").waitFor();
  await onTask(page, 5);
  // Ctrl+Z takes back the newest label, item 3's relabel: item 3 has no label of the admin's.
  await page.keyboard.press("Control+z");
  await onTask(page, 3, TICKETS[3][0]);
  assert.deepEqual(await mine("intents"), { 0: "card", 1: "balance", 2: "refund", 4: "balance" });
  await page.keyboard.press("c");
  await onTask(page, 5);
  assert.equal((await mine("intents"))[3], "card");

  // The rest: Enter on each pre-label (5, 8, 11), keys for the others.
  for (let i = 5; i < 12; i++) {
    await onTask(page, i, TICKETS[i][0]);
    if (TRUTH[i] === "refund") {
      assert.equal(await page.getByTestId("prelabel").getAttribute("data-value"), '"refund"');
      await page.keyboard.press("Enter");
    } else {
      assert.equal(await page.getByTestId("prelabel").count(), 0);
      await page.keyboard.press(TRUTH[i][0]);
    }
  }
  const done = page.getByTestId("no-more-tasks");
  await done.getByRole("heading", { name: "No more tasks" }).waitFor();
  await page.getByTestId("session-count").getByText("12 labelled this session").waitFor();
  assert.equal(await page.getByTestId("task-id").count(), 0);
  assert.deepEqual(await mine("intents"), TRUTH);
  assert.equal((await s.platform.api("GET", `${P}/intents/tasks/next`)).status, 204);
  for (const x of posts) assert.ok(Number.isInteger(x.lead_ms) && x.lead_ms >= 0, `lead_ms ${x.lead_ms}`);
  assert.deepEqual(posts.slice(-7).map((x) => [x.id, x.value]), [5, 6, 7, 8, 9, 10, 11].map((i) => [i, TRUTH[i]]));
  await page.shot("labelling-annotate-done");

  // A second annotator through the API: the same, but item 4 card and item 7 refund.
  const made = await s.platform.api("POST", "/api/v1/users", { username: "ben", password: "Ben-pass-123456", roles: ["developer"] });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const ben = await s.platform.login("ben", "Ben-pass-123456");
  const BEN = { ...TRUTH, 4: "card", 7: "refund" };
  for (;;) {
    const r = await s.platform.api("GET", `${P}/intents/tasks/next`, undefined, ben);
    if (r.status === 204) break;
    assert.equal(r.status, 200);
    await call("POST", `${P}/intents/tasks/${r.body.id}/labels`, { value: BEN[r.body.id], lead_ms: 900 }, 201, ben);
  }
  const both = await labels("intents");
  for (let i = 0; i < 12; i++) assert.deepEqual(both[i], { admin: TRUTH[i], ben: BEN[i] });

  // The project's page: progress as the API has it.
  await page.getByRole("link", { name: "Back to the project" }).click();
  await page.getByRole("heading", { name: "Labelling project intents" }).waitFor();
  let project = await call("GET", `${P}/intents`);
  assert.equal(await page.getByTestId("progress-labels").textContent(), String(project.progress.labels));
  assert.equal(project.progress.labels, 24);
  assert.equal(await page.getByTestId("progress-labelled").textContent(), "12");
  assert.equal(await page.getByTestId("progress-complete").textContent(), String(project.progress.complete_items));
  assert.equal(await page.getByTestId("progress-annotators").textContent(), "admin: 12, ben: 12");
  assert.equal(await page.getByTestId("overlap").textContent(), "2");

  // Review: every item with both labels, as the API lists them.
  const items = page.getByRole("table", { name: "Items" });
  const shownItems = () =>
    items.locator("tbody tr").evaluateAll((trs) =>
      trs.map((tr) => ({
        id: Number(tr.dataset.id),
        state: tr.dataset.state,
        labels: [...tr.querySelectorAll("[data-annotator]")].map((x) => x.textContent),
        accepted: tr.querySelector('[data-testid="accepted-value"]').textContent,
      })),
    );
  const apiItems = async (state) =>
    (await call("GET", `${P}/intents/items?state=${state}&limit=50`)).items.map((it) => ({
      id: it.id,
      state: it.state,
      labels: it.labels.map((l) => `${l.annotator}: ${l.value}`),
      accepted: it.accepted ?? "",
    }));
  await eventually(async () => (await items.locator("tbody tr").count()) === 12, "12 items");
  assert.deepEqual(await shownItems(), await apiItems("all"));
  assert.deepEqual((await shownItems())[4].labels, ["admin: balance", "ben: card"]);
  await page.getByTestId("items-total").getByText("12 items").waitFor();

  // Accept agreed: the 10 where both agree.
  await page.getByRole("button", { name: "Accept agreed" }).click();
  await page.getByTestId("accepted-count").getByText("Accepted 10 items whose labels agree.").waitFor();
  assert.equal((await call("GET", `${P}/intents/items?state=accepted`)).total, 10);
  await eventually(async () => (await shownItems()).filter((x) => x.state === "accepted").length === 10, "10 accepted rows");
  assert.deepEqual(await shownItems(), await apiItems("all"));
  await page.getByLabel("State", { exact: true }).selectOption("labelled");
  await eventually(async () => JSON.stringify((await shownItems()).map((x) => x.id)) === "[4,7]", "the two disputed items");
  await page.shot("labelling-review");
  // Item 4 accepted (its labels' majority), item 7 rejected (its labels dropped).
  await items.locator('tr[data-id="4"]').getByRole("button", { name: "Accept" }).click();
  await eventually(async () => (await call("GET", `${P}/intents/items?state=accepted`)).items.some((x) => x.id === 4), "item 4 accepted");
  await eventually(async () => JSON.stringify((await shownItems()).map((x) => x.id)) === "[7]", "item 7 alone");
  await items.locator('tr[data-id="7"]').getByRole("button", { name: "Reject" }).click();
  await eventually(async () => (await call("GET", `${P}/intents/items?state=rejected`)).items.some((x) => x.id === 7 && x.labels.length === 0), "item 7 rejected");
  await page.getByText("No labelled items.").waitFor();
  await page.getByLabel("State", { exact: true }).selectOption("all");
  await eventually(async () => JSON.stringify(await shownItems()) === JSON.stringify(await apiItems("all")), "the items as the API has them");
  project = await call("GET", `${P}/intents`);
  assert.equal(project.progress.accepted, 11);
  assert.equal(project.progress.rejected, 1);
  await page.getByTestId("progress-reviewed").getByText("11 / 1").waitFor();

  // Agreement: Fleiss' kappa overall and per label, the pair, the annotators: the API's numbers.
  await page.getByRole("tab", { name: "Agreement" }).click();
  const agreement = await call("GET", `${P}/intents/agreement`);
  assert.ok(agreement.fleiss && agreement.fleiss.kappa > 0 && agreement.fleiss.kappa < 1, JSON.stringify(agreement.fleiss));
  const kappa = page.getByTestId("fleiss-kappa");
  await kappa.waitFor();
  assert.equal(Number(await kappa.getAttribute("data-value")), agreement.fleiss.kappa);
  assert.match(await kappa.textContent(), new RegExp(`^${f3(agreement.fleiss.kappa).replace(".", "\\.")} \\(over ${agreement.fleiss.items} items with 2 raters each\\)$`));
  assert.equal(await page.getByTestId("agreement-items").textContent(), String(agreement.items));
  const perLabel = await page.getByRole("table", { name: "Kappa per label" }).locator("tbody tr").evaluateAll((trs) => trs.map((tr) => [tr.cells[0].textContent, tr.cells[1].textContent, Number(tr.dataset.kappa)]));
  assert.deepEqual(perLabel, Object.entries(agreement.fleiss.per_label).map(([l, k]) => [l, f3(k), k]));
  assert.equal(perLabel.length, 3);
  const pairs = await page.getByRole("table", { name: "Pairs" }).locator("tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
  assert.deepEqual(pairs, agreement.pairs.map((x) => [x.a, x.b, String(x.items), f3(x.kappa)]));
  assert.deepEqual(pairs.map((x) => x.slice(0, 3)), [["admin", "ben", "11"]]);
  const people = await page.getByRole("table", { name: "Annotators" }).locator("tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
  assert.deepEqual(people, agreement.annotators.map((x) => [x.annotator, String(x.labels), f3(x.mean_kappa), pct(x.accepted_agreement)]));
  // Item 7 rejected (its labels dropped); of the 11 accepted, ben labelled item 4 otherwise.
  assert.deepEqual(people.map((x) => x[3]), ["100.0%", `${((10 / 11) * 100).toFixed(1)}%`]);
  await page.shot("labelling-agreement");

  // Functions: the applied one listed, one added through the form, both applied.
  await page.getByRole("tab", { name: "Functions" }).click();
  const fnTable = page.getByRole("region", { name: "Functions" });
  await fnTable.getByRole("cell", { name: "kw_refund", exact: true }).waitFor();
  await page.getByRole("button", { name: "New function" }).click();
  const form = page.getByRole("form", { name: "New labelling function" });
  await form.getByLabel("Function name").fill("kw_card");
  await form.getByLabel("Keywords (comma separated)").fill("card, debit");
  await form.getByLabel("Votes for").selectOption("card");
  await form.getByRole("button", { name: "Add" }).click();
  await fnTable.getByRole("cell", { name: "kw_card", exact: true }).waitFor();
  const fns = (await call("GET", `${P}/intents/functions`)).functions;
  assert.deepEqual(fns.find((f) => f.name === "kw_card"), { name: "kw_card", kind: "keyword", keywords: ["card", "debit"], label: "card" });
  await page.getByRole("button", { name: "Apply" }).click();
  const results = page.getByRole("table", { name: "Function results" });
  await results.waitFor();
  const again = await call("POST", `${P}/intents/functions/apply`);
  const shownFns = await results.locator("tbody tr").evaluateAll((trs) =>
    trs.map((tr) => ({ name: tr.dataset.name, coverage: Number(tr.dataset.coverage), cells: [...tr.cells].map((td) => td.textContent) })),
  );
  assert.deepEqual(
    shownFns,
    again.functions.map((f) => ({
      name: f.name,
      coverage: f.coverage,
      cells: [f.name, pct(f.coverage), pct(f.conflict), pct(f.estimated_accuracy), pct(f.labelled_accuracy)],
    })),
  );
  assert.equal(again.labelled_items, 8);
  assert.equal(
    await page.getByTestId("applied-summary").textContent(),
    `Pre-labelled ${again.labelled_items} items (coverage ${pct(again.coverage)}); accuracy on the labels given: ${pct(again.accuracy_on_labels)}.`,
  );
  await page.shot("labelling-functions");

  // Export: the accepted labels as version 1 of intents-labels, linked.
  await page.getByRole("tab", { name: "Export" }).click();
  await page.getByRole("button", { name: "Export" }).click();
  const result = page.getByTestId("export-result");
  await result.waitFor();
  assert.equal(await result.textContent(), "Exported 11 rows to intents-labels version 1.");
  const link = result.getByRole("link", { name: "intents-labels version 1" });
  assert.equal(await link.getAttribute("href"), "#/datasets/intents-labels/versions/1");
  await eventually(async () => (await call("GET", "/api/v1/datasets/intents-labels/versions/1")).status === "ready", "the export");
  const rows = (await call("GET", "/api/v1/datasets/intents-labels/versions/1/rows?limit=100")).rows;
  assert.deepEqual(
    rows.map((r) => [r.text, r.label]),
    TICKETS.filter((_, i) => i !== 7).map(([t], i) => [t, TRUTH[i >= 7 ? i + 1 : i]]),
  );
  await page.shot("labelling-export");
  await link.click();
  await page.getByRole("heading", { name: "intents-labels version 1" }).waitFor();
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

// The centre of `word` in the task's text, on screen.
async function wordAt(page, word) {
  const at = await page.getByTestId("task-text").evaluate((el, w) => {
    const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const i = n.data.indexOf(w);
      if (i < 0) continue;
      const r = document.createRange();
      r.setStart(n, i);
      r.setEnd(n, i + w.length);
      const b = r.getBoundingClientRect();
      return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
    }
    return null;
  }, word);
  assert.ok(at, `"${word}" on screen`);
  return at;
}
async function select(page, word) {
  const { x, y } = await wordAt(page, word);
  await page.mouse.dblclick(x, y);
  assert.equal((await page.evaluate(() => String(window.getSelection()))).trim(), word);
}
// A word's place in code points (what the API counts in).
function span(text, word, cls) {
  const units = text.indexOf(word);
  const start = [...text.slice(0, units)].length;
  return { class: cls, start, end: start + [...word].length };
}

const NOTES = ["🙂 Ana flew to Oslo on Monday", "Bob met Ana in Kraków", "Nothing to see here"];

test("a spans project made through the form: words selected with the mouse, marked by keys; a multi-label one by toggling keys", async () => {
  await tableDataset("notes", `text,id\n${NOTES.map((t, i) => `${t},${i}`).join("\n")}\n`);
  const page = await openPage(s.browser, s.platform);
  await page.goto(`${s.platform.url}/#/labelling`);
  await page.getByRole("button", { name: "New project" }).click();
  const form = page.getByRole("form", { name: "New labelling project" });
  await form.getByLabel("Name").fill("places");
  await form.getByLabel("Dataset", { exact: true }).selectOption("notes");
  await form.getByLabel("Schema kind").selectOption("spans");
  const textColumn = form.getByLabel("Text column");
  await textColumn.locator('option[value="text"]').waitFor({ state: "attached" });
  assert.deepEqual(await textColumn.locator("option").evaluateAll((os) => os.map((o) => o.value)), ["", "text", "id"]);
  await textColumn.selectOption("text");
  await form.getByLabel("Classes (comma separated)").fill("person");
  await form.getByLabel("Keys (one character per class, optional)").fill("p");
  // One class: the API's message shows under the form.
  await form.getByRole("button", { name: "Create" }).click();
  await form.getByRole("alert").getByText("schema.classes must list 2 to 200 classes").waitFor();
  await form.getByLabel("Classes (comma separated)").fill("person, place");
  await form.getByLabel("Keys (one character per class, optional)").fill("pl");
  await page.shot("labelling-new");
  await form.getByRole("button", { name: "Create" }).click();
  await page.getByRole("heading", { name: "Labelling project places" }).waitFor();
  const project = await call("GET", `${P}/places`);
  assert.deepEqual(project.schema, { kind: "spans", classes: ["person", "place"], keys: ["p", "l"], text_column: "text" });
  assert.equal(project.overlap, 1);
  assert.equal(project.order, "sequential");

  await page.getByRole("button", { name: "Annotate" }).click();
  await onTask(page, 0, NOTES[0]);
  assert.deepEqual(await page.getByRole("group", { name: "Classes" }).getByRole("button").allTextContents(), ["p person", "l place"]);
  // A key with nothing selected marks nothing.
  await page.keyboard.press("p");
  await page.getByTestId("notice").getByText("Select some of the text first, then press a class's key.").waitFor();
  await select(page, "Ana");
  await page.keyboard.press("p");
  await page.locator('mark[data-class="person"]').getByText("Ana", { exact: true }).waitFor();
  await select(page, "Oslo");
  await page.keyboard.press("l");
  await page.locator('mark[data-class="place"]').getByText("Oslo", { exact: true }).waitFor();
  assert.equal(await page.getByTestId("task-text").textContent(), NOTES[0]);
  assert.deepEqual(
    await page.getByRole("list", { name: "Spans" }).locator("li").evaluateAll((ls) => ls.map((l) => [l.dataset.class, Number(l.dataset.start), Number(l.dataset.end)])),
    [["person", 2, 5], ["place", 14, 18]],
  );
  await page.shot("labelling-spans");
  await page.keyboard.press("Enter");
  await onTask(page, 1, NOTES[1]);
  assert.deepEqual((await mine("places"))[0], [span(NOTES[0], "Ana", "person"), span(NOTES[0], "Oslo", "place")]);

  // Delete takes the last span off before it is submitted.
  await select(page, "Bob");
  await page.keyboard.press("p");
  await select(page, "Ana");
  await page.keyboard.press("l");
  await page.locator('mark[data-class="place"]').getByText("Ana", { exact: true }).waitFor();
  await page.keyboard.press("Delete");
  await eventually(async () => (await page.locator("mark").count()) === 1, "one span left");
  await select(page, "Ana");
  await page.keyboard.press("p");
  await select(page, "Kraków");
  await page.keyboard.press("l");
  await eventually(async () => (await page.locator("mark").count()) === 3, "three spans");
  await page.keyboard.press("Enter");
  await onTask(page, 2, NOTES[2]);
  assert.deepEqual(await mine("places"), {
    0: [span(NOTES[0], "Ana", "person"), span(NOTES[0], "Oslo", "place")],
    1: [span(NOTES[1], "Bob", "person"), span(NOTES[1], "Ana", "person"), span(NOTES[1], "Kraków", "place")],
  });
  // Nothing to mark in the last: Enter submits no spans, and the queue is empty.
  await page.keyboard.press("Enter");
  await page.getByTestId("no-more-tasks").waitFor();
  assert.deepEqual((await mine("places"))[2], []);
  // Back to item 1 with the arrows: its spans are shown marked.
  await page.keyboard.press("ArrowLeft");
  await onTask(page, 2);
  await page.keyboard.press("ArrowLeft");
  await onTask(page, 1, NOTES[1]);
  assert.deepEqual(await page.locator("mark").allTextContents(), ["Bob", "Ana", "Kraków"]);

  // Several classes: keys toggle, Enter submits them.
  await call(
    "POST",
    P,
    { name: "topics", dataset: "notes", schema: { kind: "multi", classes: ["travel", "meeting", "other"], text_column: "text" } },
    201,
  );
  await page.goto(`${s.platform.url}/#/labelling/topics/annotate`);
  await onTask(page, 0, NOTES[0]);
  const pressed = () => page.getByRole("group", { name: "Classes" }).getByRole("button").evaluateAll((bs) => bs.map((b) => b.getAttribute("aria-pressed")));
  assert.deepEqual(await page.getByRole("group", { name: "Classes" }).getByRole("button").allTextContents(), ["1 travel", "2 meeting", "3 other"]);
  await page.keyboard.press("1");
  await page.keyboard.press("2");
  await page.keyboard.press("3");
  await page.keyboard.press("2");
  await eventually(async () => JSON.stringify(await pressed()) === '["true","false","true"]', "travel and other ticked");
  assert.deepEqual(await mine("topics"), {});
  await page.keyboard.press("Enter");
  await onTask(page, 1, NOTES[1]);
  assert.deepEqual(await pressed(), ["false", "false", "false"]);
  await page.keyboard.press("2");
  await page.keyboard.press("Enter");
  await onTask(page, 2, NOTES[2]);
  assert.deepEqual(await mine("topics"), { 0: ["other", "travel"], 1: ["meeting"] });
  // Backspace: item 1's label is taken back, and the item shows again with nothing ticked.
  await page.keyboard.press("Backspace");
  await onTask(page, 1, NOTES[1]);
  assert.deepEqual(await mine("topics"), { 0: ["other", "travel"] });
  assert.deepEqual(await pressed(), ["false", "false", "false"]);
  await page.keyboard.press("1");
  await page.keyboard.press("2");
  await page.keyboard.press("Enter");
  await onTask(page, 2);
  await page.keyboard.press("3");
  await page.keyboard.press("Enter");
  await page.getByTestId("no-more-tasks").waitFor();
  assert.deepEqual(await mine("topics"), { 0: ["other", "travel"], 1: ["meeting", "travel"], 2: ["other"] });
  await page.getByTestId("session-count").getByText("3 labelled this session").waitFor();
  await page.shot("labelling-multi");
  const expected = (p) => !/HTTP 400: POST .*\/labelling\/projects$/.test(p) && !/status of 400/.test(p);
  assert.deepEqual(page.problems().filter(expected), []);
  assert.equal(page.problems().length, 2); // the one refused project: the response and its console line
  await page.context().close();
});

// A PNG of one colour.
function png(w, h, [r, g, b]) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) raw.set([r, g, b], y * (w * 3 + 1) + 1 + x * 3);
  }
  const chunk = (type, data) => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([head, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

test("a boxes project on images: boxes dragged on the image, classes by keys, Enter", async () => {
  await call("POST", "/api/v1/datasets", { name: "photos", kind: "files" }, 201);
  const tar = createTar([
    { name: "a.png", data: png(400, 200, [200, 220, 240]) },
    { name: "b.png", data: png(400, 200, [240, 220, 200]) },
  ]);
  const up = await s.platform.api("POST", "/api/v1/datasets/photos/versions", tar, undefined, { "Content-Type": "application/x-tar" });
  assert.equal(up.status, 201, JSON.stringify(up.body));
  await eventually(async () => (await call("GET", "/api/v1/datasets/photos/versions/1")).status === "ready", "the photos");
  await call("POST", P, { name: "objects", dataset: "photos", schema: { kind: "boxes", classes: ["cat", "dog"] } }, 201);

  const page = await openPage(s.browser, s.platform);
  await page.goto(`${s.platform.url}/#/labelling/objects/annotate`);
  await onTask(page, 0);
  const svg = page.locator('svg[data-width="400"][data-height="200"]');
  await svg.waitFor();
  assert.match(await page.getByRole("img", { name: "a.png" }).getAttribute("src"), /^data:image\/png;base64,/);
  const drag = async (x0, y0, x1, y1) => {
    const b = await svg.boundingBox();
    const k = b.width / 400;
    await page.mouse.move(b.x + x0 * k, b.y + y0 * k);
    await page.mouse.down();
    await page.mouse.move(b.x + ((x0 + x1) / 2) * k, b.y + ((y0 + y1) / 2) * k);
    await page.mouse.move(b.x + x1 * k, b.y + y1 * k);
    await page.mouse.up();
  };
  const shownBoxes = () => page.getByRole("list", { name: "Boxes" }).locator("li").evaluateAll((ls) => ls.map((l) => [l.dataset.class, ...l.dataset.box.split(",").map(Number)]));
  const near = (got, want) => got.length === want.length && got.every((b, i) => b[0] === want[i][0] && b.slice(1).every((v, k) => Math.abs(v - want[i][k + 1]) <= 1));
  await drag(40, 20, 140, 120);
  await eventually(async () => near(await shownBoxes(), [["", 40, 20, 100, 100]]), "a box without a class");
  await page.keyboard.press("2");
  await eventually(async () => near(await shownBoxes(), [["dog", 40, 20, 100, 100]]), "the box a dog");
  await drag(380, 190, 250, 100); // from the bottom right
  await page.keyboard.press("1");
  await eventually(async () => near(await shownBoxes(), [["dog", 40, 20, 100, 100], ["cat", 250, 100, 130, 90]]), "two boxes");
  assert.equal(await svg.locator("g.lbl-box").count(), 2);
  await page.shot("labelling-boxes");
  const drawn = await shownBoxes();
  await page.keyboard.press("Enter");
  await onTask(page, 1);
  const value = (await mine("objects"))[0];
  const asList = (v) => v.map((b) => [b.class, b.x, b.y, b.w, b.h]).sort((a, b) => a[1] - b[1]);
  assert.deepEqual(asList(value), drawn);
  assert.ok(near(asList(value), [["dog", 40, 20, 100, 100], ["cat", 250, 100, 130, 90]]), JSON.stringify(value));

  // A box without a class is not submitted; with one it is, and the queue is empty.
  await page.locator('svg[data-width="400"]').waitFor();
  await page.getByRole("img", { name: "b.png" }).waitFor();
  await drag(10, 10, 60, 60);
  await eventually(async () => (await shownBoxes()).length === 1, "a box");
  await page.keyboard.press("Enter");
  await page.getByTestId("notice").getByText("Give every box a class: select it, then press a class's key.").waitFor();
  assert.equal((await mine("objects"))[1], undefined);
  await page.keyboard.press("1");
  await page.keyboard.press("Enter");
  await page.getByTestId("no-more-tasks").waitFor();
  assert.ok(near(asList((await mine("objects"))[1]), [["cat", 10, 10, 50, 50]]));
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});
