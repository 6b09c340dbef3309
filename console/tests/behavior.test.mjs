// The behaviour pages in headless Chromium against a real aimass: a project made on the list
// page; 31 persons' events over two weeks (page views of /, /pricing and /signup by browser,
// sign-ups, purchases with an amount; made here from a seeded generator) captured through the
// API, once and again (all duplicates); then, through the pages, each insight checked against
// the numbers computed here from the events sent: trends (two series, by day, the table and the
// chart's points; then by browser), a funnel's step counts (and an API error shown as it came),
// a retention cohort's cells (of everyone, then of each browser), the lifecycle bars of every
// day, stickiness bars, the paths' Sankey nodes and links, RFM segments and the lifetime fit;
// an insight saved, put on a new
// dashboard and drawn there from the dashboard's answer, and opened again from it; an
// anonymous id aliased through the API and the person's page with both ids and their events;
// a static cohort from pasted ids and a dynamic one from a condition with their sizes, and a
// trend filtered to a cohort. The churn model, in a project of its own: 300 persons whose
// activity fades before they leave, too few labelled at first (the 400 shown as the API gave
// it), then four in five labelled and the model trained from the Churn tab through a real
// pipeline, followed until scored; the counts, AUC and links shown checked against the API, the
// histogram and the persons most at risk against the probabilities written to the persons.
// Screenshots: console/test-output/.
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, openPage, platformForTests, random } from "./harness.mjs";

const s = platformForTests();
const API = "/api/v1/behavior/shop";
const DAY = 86400000;
const START = Date.UTC(2026, 2, 2); // a Monday
const DAYS = 14;
const FROM = "2026-03-02";
const TO = "2026-03-15";
const BROWSERS = ["Chrome", "Firefox", "Safari"];
const iso = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");
const dayOf = (ms) => new Date(ms).toISOString().slice(0, 10);
const INTERVALS = Array.from({ length: DAYS }, (_, d) => dayOf(START + d * DAY));

// 30 registered persons u00…u29, each with a browser, a first day in the first week and further
// days of visits at random; a visit is a page view of /, often one of /pricing a minute later,
// sometimes /signup a minute after that. Two in three sign up on their first visit; of those,
// those with i % 4 != 1 buy then and on later visits now and then (amounts in quarters, exact in
// binary). anon-7 views two pages on the first day; a later test aliases it to u07.
function makeEvents() {
  const r = random(36);
  const events = [];
  let n = 0;
  const add = (event, id, ms, properties) => events.push({ event, distinct_id: id, timestamp: iso(ms), properties, uuid: `e-${n++}` });
  for (let i = 0; i < 30; i++) {
    const id = `u${String(i).padStart(2, "0")}`;
    const browser = BROWSERS[i % 3];
    const first = Math.floor(r() * 7);
    const days = [first];
    for (let d = first + 1; d < DAYS; d++) if (r() < 0.35) days.push(d);
    const signs = i % 3 !== 0;
    const buys = signs && i % 4 !== 1;
    days.forEach((d, k) => {
      const t = START + d * DAY + (8 + Math.floor(r() * 12)) * 3600000 + Math.floor(r() * 60) * 60000;
      add("$pageview", id, t, { $pathname: "/", browser });
      const pricing = r() < 0.7;
      if (pricing) add("$pageview", id, t + 60000, { $pathname: "/pricing", browser });
      if (pricing && r() < 0.4) add("$pageview", id, t + 120000, { $pathname: "/signup", browser });
      if (k === 0 && signs) add("signup", id, t + 150000, { browser });
      if (buys && (k === 0 || r() < 0.6)) add("purchase", id, t + 300000, { browser, amount: (1 + Math.floor(r() * 40)) / 4 });
    });
  }
  add("$pageview", "anon-7", START + 9 * 3600000, { $pathname: "/", browser: "Chrome" });
  add("$pageview", "anon-7", START + 9 * 3600000 + 60000, { $pathname: "/pricing", browser: "Chrome" });
  return events;
}
const EVENTS = makeEvents();
const ms = (e) => Date.parse(e.timestamp);
const dayIndex = (e) => Math.floor((ms(e) - START) / DAY);

// Each person's events in time order (ties in arrival order); `merged` maps an id to its person.
function persons(merged = {}) {
  const out = new Map();
  for (const e of EVENTS) {
    const p = merged[e.distinct_id] ?? e.distinct_id;
    if (!out.has(p)) out.set(p, []);
    out.get(p).push(e);
  }
  for (const list of out.values()) list.sort((a, b) => ms(a) - ms(b));
  return out;
}
const PERSONS = persons();
const perDay = (keep, value = () => 1) => INTERVALS.map((_, d) => EVENTS.filter((e) => dayIndex(e) === d && keep(e)).reduce((s, e) => s + value(e), 0));
const pageviews = (e) => e.event === "$pageview";
const activeDays = (list) => new Set(list.filter(pageviews).map(dayIndex));

// An ordered funnel: the furthest step a person reaches from any of their first step's events,
// each later step after the one before and within the window of the first.
function funnel(steps, windowMs) {
  const counts = steps.map(() => 0);
  for (const list of PERSONS.values()) {
    let best = 0;
    list.forEach((e, i) => {
      if (e.event !== steps[0]) return;
      let k = 1;
      for (let j = i + 1; j < list.length && k < steps.length && ms(list[j]) - ms(e) <= windowMs; j++) if (list[j].event === steps[k]) k++;
      best = Math.max(best, k);
    });
    for (let k = 0; k < best; k++) counts[k]++;
  }
  return counts;
}

let number;
const fmt = (v) => number.format(v);
const pct = (v) => `${(v * 100).toFixed(1)}%`;

async function call(method, path, body, status = 200) {
  const r = await s.platform.api(method, path, body);
  assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
  return r.body;
}

async function behaviorPage(path) {
  const page = await openPage(s.browser, s.platform);
  number = new Intl.NumberFormat(await page.evaluate(() => navigator.language), { maximumFractionDigits: 2 });
  await page.goto(`${s.platform.url}/#/behavior/shop${path}`);
  await page.getByRole("heading", { name: "Behaviour: shop" }).waitFor();
  return page;
}

// Runs the insight and waits for the answer to the query shown (failing with the error shown, if one is).
async function run(page) {
  await page.getByRole("button", { name: "Run", exact: true }).click();
  const answer = page.getByRole("region", { name: "Answer" });
  await eventually(async () => {
    if (await page.getByRole("alert").count()) throw new Error(await page.getByRole("alert").first().textContent());
    if ((await answer.count()) === 0) return false;
    return (await answer.getAttribute("data-fresh")) === "true" && (await answer.getAttribute("aria-busy")) === "false";
  }, "the insight's answer");
  return answer;
}

async function range(page, from = FROM, to = TO) {
  await page.getByRole("combobox", { name: "From", exact: true }).fill(from);
  await page.getByRole("combobox", { name: "To", exact: true }).fill(to);
}

const tableRows = (table) => table.locator("tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));

test("a project made on the list page shows the statistics of the events captured through the API", async () => {
  const page = await openPage(s.browser, s.platform);
  const locale = await page.evaluate(() => navigator.language);
  await page.goto(`${s.platform.url}/#/behavior`);
  await page.getByText("No projects").waitFor();
  await page.getByRole("button", { name: "New project" }).click();
  const form = page.getByRole("form", { name: "New project" });
  await form.getByLabel("Name").fill("shop");
  await form.getByLabel("Description").fill("the test shop");
  await form.getByRole("button", { name: "Create" }).click();
  await page.getByRole("heading", { name: "Behaviour: shop" }).waitFor();

  const first = await call("POST", `${API}/capture`, { batch: EVENTS });
  assert.deepEqual(first, { status: 1, received: EVENTS.length, stored: EVENTS.length, duplicates: 0 });
  const again = await call("POST", `${API}/capture`, { batch: EVENTS });
  assert.equal(again.duplicates, EVENTS.length);

  await page.reload();
  await page.getByTestId("stat-events").getByText(EVENTS.length.toLocaleString(locale), { exact: true }).waitFor();
  assert.equal(await page.getByTestId("stat-distinct-ids").textContent(), "31");
  const stats = await page.getByTestId("project-stats").textContent();
  assert.match(stats, new RegExp(`Duplicates skipped${EVENTS.length.toLocaleString(locale)}`));
  const tags = page.locator(".tag").filter({ hasText: /^(\$pageview|purchase|signup)$/ });
  await eventually(async () => (await tags.allTextContents()).join() === "$pageview,purchase,signup", "the event names");
  await page.shot("behavior-project");

  await page.getByRole("link", { name: "All projects" }).click();
  const row = page.getByRole("row").filter({ has: page.getByRole("link", { name: "shop", exact: true }) });
  await row.waitFor();
  const cells = await row.getByRole("cell").allTextContents();
  assert.deepEqual(cells.slice(0, 3), ["shop", EVENTS.length.toLocaleString(locale), "31"]);
  await page.shot("behavior-projects");
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("trends: page views and the sum of purchases per day, in the table and the chart, then by browser; saved", async () => {
  const page = await behaviorPage("/insights/trends");
  const a = page.getByRole("group", { name: "Series A" });
  await a.waitFor();
  assert.equal(await a.getByLabel("Event").inputValue(), "$pageview");
  await page.getByRole("button", { name: "Add series" }).click();
  const b = page.getByRole("group", { name: "Series B" });
  await b.getByLabel("Event").selectOption("purchase");
  await b.getByLabel("Math", { exact: true }).selectOption("sum");
  await b.getByLabel("Math property").selectOption("amount");
  await range(page);
  const answer = await run(page);

  const views = perDay(pageviews);
  const bought = perDay((e) => e.event === "purchase", (e) => e.properties.amount);
  const sum = (v) => v.reduce((x, y) => x + y, 0);
  const table = answer.getByRole("table", { name: "Trends table" });
  assert.deepEqual(await table.locator("thead th").allTextContents(), ["Series", "Total", ...INTERVALS]);
  assert.deepEqual(await tableRows(table), [
    ["$pageview", fmt(sum(views)), ...views.map(fmt)],
    ["purchase (sum amount)", fmt(sum(bought)), ...bought.map(fmt)],
  ]);
  const chart = answer.getByRole("img", { name: "Trends" });
  assert.equal(await chart.getAttribute("data-points"), "14");
  assert.equal(await chart.getAttribute("data-lines"), "2");
  const plotted = await chart.locator('g[data-series="$pageview"] circle').evaluateAll((cs) => cs.map((c) => [c.dataset.x, Number(c.dataset.value)]));
  assert.deepEqual(plotted, INTERVALS.map((d, i) => [d, views[i]]));
  await page.shot("behavior-trends");

  // By browser: a row per series and browser.
  await page.getByRole("combobox", { name: "Breakdown" }).selectOption("event:browser");
  await run(page);
  // (A value without events in the range has no row: Chrome users never buy.)
  const want = [];
  for (const br of BROWSERS) {
    const v = perDay((e) => pageviews(e) && e.properties.browser === br);
    want.push([`$pageview · ${br}`, fmt(sum(v)), ...v.map(fmt)]);
    const bought = (e) => e.event === "purchase" && e.properties.browser === br;
    const p = perDay(bought, (e) => e.properties.amount);
    if (EVENTS.some(bought)) want.push([`purchase (sum amount) · ${br}`, fmt(sum(p)), ...p.map(fmt)]);
  }
  assert.equal(want.length, 5);
  const seen = await tableRows(answer.getByRole("table", { name: "Trends table" }));
  assert.deepEqual([...seen].sort(), [...want].sort());
  assert.equal(await answer.getByRole("img", { name: "Trends" }).getAttribute("data-lines"), "5");
  await page.shot("behavior-trends-browser");

  // Saved without the breakdown (the query as the builder has it).
  await page.getByRole("combobox", { name: "Breakdown" }).selectOption("");
  await run(page);
  await page.getByLabel("Insight name").fill("daily-traffic");
  await page.getByRole("button", { name: "Save insight" }).click();
  await page.getByRole("status").getByText("Saved daily-traffic").waitFor();
  const saved = await call("GET", `${API}/insights/daily-traffic`);
  assert.equal(saved.kind, "trends");
  assert.deepEqual(saved.query, {
    date_from: FROM,
    date_to: TO,
    series: [
      { event: "$pageview", math: "total" },
      { event: "purchase", math: "sum", math_property: "amount" },
    ],
    interval: "day",
  });
  assert.deepEqual(saved.result.series[0].data, views);
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("funnels: page view, sign-up, purchase with each step's persons; an error as the API gave it", async () => {
  const page = await behaviorPage("/insights/funnels");
  await page.getByRole("group", { name: "Step 2" }).getByLabel("Event").selectOption("signup");
  await page.getByRole("button", { name: "Add step" }).click();
  await page.getByRole("group", { name: "Step 3" }).getByLabel("Event").selectOption("purchase");
  await range(page);
  const answer = await run(page);
  const counts = funnel(["$pageview", "signup", "purchase"], 14 * DAY);
  assert.equal(counts[0], 31);
  assert.ok(counts[2] > 0 && counts[2] < counts[1] && counts[1] < counts[0], JSON.stringify(counts));
  const rows = await tableRows(answer.getByRole("table", { name: "Funnel steps" }));
  assert.deepEqual(
    rows.map((r) => r.slice(0, 5)),
    [
      ["1. $pageview", fmt(counts[0]), "100.0%", "—", "—"],
      ["2. signup", fmt(counts[1]), pct(counts[1] / counts[0]), pct(counts[1] / counts[0]), fmt(counts[0] - counts[1])],
      ["3. purchase", fmt(counts[2]), pct(counts[2] / counts[0]), pct(counts[2] / counts[1]), fmt(counts[1] - counts[2])],
    ],
  );
  const bars = await answer
    .getByRole("group", { name: "Funnel" })
    .locator("g[data-step]")
    .evaluateAll((gs) => gs.map((g) => [Number(g.dataset.step), Number(g.dataset.count)]));
  assert.deepEqual(bars, counts.map((c, k) => [k + 1, c]));
  // Conversion times: from the step before, at most the 5 minutes from a visit's first page view to its purchase.
  assert.match(rows[1][5], /^\d+s$|^[1-4]m( \d+s)?$/);
  await page.shot("behavior-funnel");

  await page.getByLabel("Window").fill("soon");
  await page.getByRole("button", { name: "Run", exact: true }).click();
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.equal(await alert.textContent(), "window is seconds or a duration (30m, 2h, 14d, 2w) (bad_request)");
  const problems = page.problems().filter((p) => !/HTTP 400: POST .*\/insights\/funnels/.test(p) && !/status of 400/.test(p));
  assert.deepEqual(problems, []);
  await page.context().close();
});

test("retention, lifecycle and stickiness of page views per day", async () => {
  const page = await behaviorPage("/insights/retention");
  await page.getByRole("combobox", { name: "Interval" }).selectOption("day");
  await page.getByRole("spinbutton", { name: "Periods" }).fill("7");
  await range(page);
  let answer = await run(page);
  // Cohorts by the day of a person's first page view; period i: those who came back on day i after.
  const firstDays = new Map([...PERSONS].map(([p, list]) => [p, Math.min(...activeDays(list))]));
  const cohorts = [0, 1, 2, 3, 4, 5, 6].filter((d) => [...firstDays.values()].includes(d)).slice(0, 3);
  assert.equal(cohorts[0], 0);
  for (const cohort of cohorts) {
    const members = [...firstDays].filter(([, d]) => d === cohort).map(([p]) => p);
    const back = (i) => members.filter((p) => activeDays(PERSONS.get(p)).has(cohort + i)).length;
    const row = answer.getByRole("table", { name: "Retention" }).locator(`tr[data-cohort="${INTERVALS[cohort]}"]`);
    const cells = await row.locator("td").evaluateAll((tds) => tds.map((td) => [td.textContent, td.dataset.count ?? null]));
    assert.equal(cells.length, 2 + 7);
    assert.deepEqual(cells.slice(0, 2), [[INTERVALS[cohort], null], [fmt(members.length), null]]);
    for (let i = 0; i < 7; i++) {
      assert.deepEqual(cells[2 + i], [pct(back(i) / members.length), String(back(i))], `cohort ${INTERVALS[cohort]}, day ${i}`);
    }
  }
  await page.shot("behavior-retention");

  // By browser (the property of the page view that put a person in their cohort): each value's
  // table holds only its persons, picked from the values under the table of everyone.
  await page.getByRole("combobox", { name: "Breakdown" }).selectOption("event:browser");
  answer = await run(page);
  const browserOf = new Map([...PERSONS].map(([p, list]) => [p, list.find(pageviews).properties.browser]));
  const select = answer.getByRole("combobox", { name: "Breakdown value" });
  const options = await select.locator("option").allTextContents();
  for (const browser of BROWSERS) {
    const theirs = [...firstDays].filter(([p]) => browserOf.get(p) === browser);
    const k = options.findIndex((o) => o.startsWith(`${browser} (`));
    assert.ok(k >= 0, `${browser} among ${options}`);
    assert.equal(options[k], `${browser} (${fmt(theirs.length)} persons)`);
    await select.selectOption(String(k));
    const table = answer.getByRole("table", { name: `Retention of browser ${browser}` });
    assert.equal(await table.locator("tr.bh-ret-mean td").nth(1).textContent(), fmt(theirs.length));
    for (const cohort of new Set(theirs.map(([, d]) => d))) {
      const members = theirs.filter(([, d]) => d === cohort).map(([p]) => p);
      const back = (i) => members.filter((p) => activeDays(PERSONS.get(p)).has(cohort + i)).length;
      const cells = await table.locator(`tr[data-cohort="${INTERVALS[cohort]}"] td`).evaluateAll((tds) => tds.map((td) => [td.textContent, td.dataset.count ?? null]));
      assert.deepEqual(
        cells,
        [[INTERVALS[cohort], null], [fmt(members.length), null], ...Array.from({ length: 7 }, (_, i) => [pct(back(i) / members.length), String(back(i))])],
        `${browser}, cohort ${INTERVALS[cohort]}`,
      );
    }
  }
  await page.shot("behavior-retention-by-browser");

  await page.getByRole("navigation", { name: "Insight kind" }).getByRole("link", { name: "Lifecycle" }).click();
  await page.getByRole("combobox", { name: "Interval" }).selectOption("day");
  await range(page);
  answer = await run(page);
  const days = [...PERSONS.values()].map((list) => activeDays(list));
  const want = INTERVALS.map((start, d) => ({
    start,
    new: days.filter((a) => a.has(d) && Math.min(...a) === d).length,
    returning: days.filter((a) => a.has(d) && a.has(d - 1)).length,
    resurrecting: days.filter((a) => a.has(d) && !a.has(d - 1) && Math.min(...a) < d).length,
    dormant: days.filter((a) => !a.has(d) && a.has(d - 1)).length,
  }));
  const bars = await answer
    .getByRole("group", { name: "Lifecycle" })
    .locator("g[data-interval]")
    .evaluateAll((gs) =>
      gs.map((g) => {
        const out = { start: g.dataset.interval };
        for (const r of g.querySelectorAll("rect")) out[r.dataset.status] = Number(r.dataset.value);
        return out;
      }),
    );
  assert.deepEqual(bars, want);
  // Dormant bars hang below the zero line, the others stand on it.
  const geometry = await answer.getByRole("group", { name: "Lifecycle" }).locator(`g[data-interval="${INTERVALS[5]}"] rect`).evaluateAll((rs) =>
    rs.map((r) => ({ status: r.dataset.status, top: Number(r.getAttribute("y")), bottom: Number(r.getAttribute("y")) + Number(r.getAttribute("height")) })),
  );
  const dormant = geometry.find((g) => g.status === "dormant");
  for (const g of geometry.filter((x) => x.status !== "dormant")) assert.ok(g.bottom <= dormant.top + 1e-6, JSON.stringify(geometry));
  await page.shot("behavior-lifecycle");

  await page.getByRole("navigation", { name: "Insight kind" }).getByRole("link", { name: "Stickiness" }).click();
  await page.getByRole("combobox", { name: "Interval" }).selectOption("day");
  await range(page);
  answer = await run(page);
  const sticky = INTERVALS.map((_, k) => days.filter((a) => a.size === k + 1).length);
  assert.deepEqual(
    await answer.getByRole("group", { name: "Stickiness" }).locator("g[data-label]").evaluateAll((gs) => gs.map((g) => g.getAttribute("aria-label"))),
    sticky.map((n, k) => `${k + 1} day${k ? "s" : ""}: ${n}`),
  );
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("paths from / by page: the Sankey diagram's nodes and links", async () => {
  const page = await behaviorPage("/insights/paths");
  await page.getByLabel("Start point").fill("/");
  assert.equal(await page.getByRole("combobox", { name: "Node property" }).inputValue(), "$pathname");
  assert.equal(await page.getByRole("group", { name: "Path events" }).getByRole("checkbox", { name: "$pageview" }).isChecked(), true);
  await page.getByRole("spinbutton", { name: "Steps" }).fill("4");
  await range(page);
  const answer = await run(page);
  // Each person's first visit: its pages a minute apart, the next visit a day later at least.
  const nodes = new Map();
  const links = new Map();
  for (const list of PERSONS.values()) {
    const views = list.filter(pageviews);
    const path = [views[0].properties.$pathname];
    for (let i = 1; i < views.length && ms(views[i]) - ms(views[i - 1]) <= 30 * 60000 && path.length < 4; i++) path.push(views[i].properties.$pathname);
    path.forEach((n, i) => nodes.set(`${i + 1} ${n}`, (nodes.get(`${i + 1} ${n}`) ?? 0) + 1));
    for (let i = 0; i + 1 < path.length; i++) links.set(`${i + 1} ${path[i]} ${path[i + 1]}`, (links.get(`${i + 1} ${path[i]} ${path[i + 1]}`) ?? 0) + 1);
  }
  assert.deepEqual([...nodes.keys()].sort(), ["1 /", "2 /pricing", "3 /signup"]);
  assert.equal(await answer.getByTestId("paths-summary").textContent(), "31 persons, from /; nodes are $pathname");
  const sankey = answer.getByRole("group", { name: "Paths" });
  assert.equal(await sankey.getAttribute("data-columns"), "3");
  const shownNodes = await sankey.locator("g[data-node]").evaluateAll((gs) => gs.map((g) => [`${g.dataset.step} ${g.dataset.node}`, Number(g.dataset.persons)]));
  assert.deepEqual(shownNodes.sort(), [...nodes].sort());
  const shownLinks = await sankey
    .locator("path[data-source]")
    .evaluateAll((ps) => ps.map((p) => [`${p.dataset.step} ${p.dataset.source} ${p.dataset.target}`, Number(p.dataset.persons)]));
  assert.deepEqual(shownLinks.sort(), [...links].sort());
  // A link is as wide as its persons are many, on the scale of the nodes' heights.
  const height = await sankey.locator('g[data-node="/"] rect').getAttribute("height");
  const width = await sankey.locator('path[data-source="/"]').getAttribute("stroke-width");
  assert.ok(Math.abs(Number(width) / Number(height) - links.get("1 / /pricing") / nodes.get("1 /")) < 1e-6);
  await page.shot("behavior-paths");
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("RFM segments and the lifetime fit of the purchases", async () => {
  const buyers = [...PERSONS.values()].filter((l) => l.some((e) => e.event === "purchase")).length;
  assert.equal(buyers, 14);
  const page = await behaviorPage("/insights/rfm");
  assert.equal(await page.getByLabel("Purchase event").inputValue(), "purchase");
  await page.getByRole("combobox", { name: "Value property" }).selectOption("amount");
  let answer = await run(page);
  assert.equal(await answer.getByTestId("rfm-summary").textContent(), `${buyers} customers`);
  const segments = await answer.getByRole("group", { name: "Segments" }).locator("g[data-label]").evaluateAll((gs) => gs.map((g) => g.getAttribute("aria-label")));
  assert.equal(segments.reduce((n, l) => n + Number(l.split(": ")[1]), 0), buyers);
  assert.equal(await answer.getByRole("table").locator("tbody tr").count(), buyers);
  // Not written unless asked.
  assert.deepEqual((await call("GET", `${API}/persons/u02`)).properties, {});
  await page.shot("behavior-rfm");

  await page.getByRole("navigation", { name: "Insight kind" }).getByRole("link", { name: "Lifetime" }).click();
  await page.getByRole("combobox", { name: "Value property" }).selectOption("amount");
  answer = await run(page);
  assert.match(await answer.getByTestId("lifetime-fit").textContent(), new RegExp(`^Customers${buyers}BG/NBDr [\\d.e+-]+, α`));
  assert.equal(await answer.getByRole("table").locator("tbody tr").count(), buyers);
  await page.shot("behavior-lifetime");
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("a saved insight put on a new dashboard is drawn there, and opens again from it", async () => {
  const page = await behaviorPage("/dashboards");
  await page.getByRole("button", { name: "New dashboard" }).click();
  const form = page.getByRole("form", { name: "New dashboard" });
  await form.getByLabel("Name").fill("main");
  await form.getByRole("checkbox", { name: "daily-traffic" }).check();
  await form.getByRole("button", { name: "Create" }).click();
  const card = page.getByRole("article", { name: "Insight daily-traffic" });
  await card.waitFor();
  const chart = card.getByRole("img", { name: "Trends" });
  await chart.waitFor();
  const views = perDay(pageviews);
  assert.deepEqual(await chart.locator('g[data-series="$pageview"] circle').evaluateAll((cs) => cs.map((c) => Number(c.dataset.value))), views);
  assert.equal(await chart.getAttribute("data-lines"), "2");
  assert.deepEqual((await call("GET", `${API}/dashboards/main`)).insights, ["daily-traffic"]);
  await page.shot("behavior-dashboard");

  await card.getByRole("link", { name: "daily-traffic" }).click();
  const answer = page.getByRole("region", { name: "Answer" });
  await answer.getByRole("table", { name: "Trends table" }).waitFor();
  assert.equal(await page.getByRole("combobox", { name: "From", exact: true }).inputValue(), FROM);
  assert.equal(await page.getByRole("group", { name: "Series B" }).getByLabel("Math property").inputValue(), "amount");
  assert.equal(await answer.getAttribute("data-fresh"), "true");
  assert.equal(await page.getByLabel("Insight name").inputValue(), "daily-traffic");
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("an anonymous id aliased to a known one: the person's page has both ids and their events", async () => {
  const merged = await call("POST", `${API}/alias`, { distinct_id: "u07", alias: "anon-7" });
  assert.deepEqual(merged.distinct_ids.sort(), ["anon-7", "u07"]);
  const page = await behaviorPage("/persons");
  await page.getByTestId("persons-total").getByText("30 persons").waitFor();
  await page.getByLabel("Search persons").fill("u07");
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByTestId("persons-total").getByText("1 person matching u07").waitFor();
  await page.getByRole("link", { name: "u07", exact: true }).click();
  await page.getByRole("heading", { name: "Person u07" }).waitFor();
  const ids = page.getByRole("list", { name: "Distinct ids" }).getByRole("listitem");
  assert.deepEqual((await ids.allTextContents()).sort(), ["anon-7", "u07"]);
  const own = EVENTS.filter((e) => e.distinct_id === "u07" || e.distinct_id === "anon-7");
  assert.equal(await page.getByTestId("person-events").textContent(), String(own.length));
  const table = page.getByRole("table").last();
  await eventually(async () => (await table.locator("tbody tr").count()) === own.length, "the person's events");
  const shownIds = await table.locator("tbody tr td:nth-child(3)").allTextContents();
  assert.equal(shownIds.filter((x) => x === "anon-7").length, 2);
  await page.shot("behavior-person");

  // The anonymous id leads to the same person.
  await page.goto(`${s.platform.url}/#/behavior/shop/persons/anon-7`);
  await page.getByRole("heading", { name: "Person u07" }).waitFor();
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("cohorts: static from pasted ids, dynamic from a condition, their sizes; a trend filtered to one", async () => {
  const page = await behaviorPage("/cohorts");
  await page.getByRole("button", { name: "New cohort" }).click();
  let form = page.getByRole("form", { name: "New cohort" });
  await form.getByLabel("Name").fill("picked");
  await form.getByRole("textbox", { name: /Distinct ids/ }).fill("u01\nu02, u03 nobody");
  await form.getByRole("button", { name: "Create cohort" }).click();
  await page.getByRole("heading", { name: "Cohort picked" }).waitFor();
  await page.getByTestId("cohort-size").getByText("3", { exact: true }).waitFor();
  await eventually(async () => (await page.getByRole("table").locator("tbody tr").count()) === 3, "the cohort's persons");
  assert.deepEqual((await page.getByRole("table").locator("tbody tr td:first-child").allTextContents()).sort(), ["u01", "u02", "u03"]);

  await page.getByRole("navigation", { name: "Project" }).getByRole("link", { name: "Cohorts" }).click();
  await page.getByRole("button", { name: "New cohort" }).click();
  form = page.getByRole("form", { name: "New cohort" });
  await form.getByLabel("Name").fill("repeat-buyers");
  await form.getByRole("radio", { name: /dynamic/ }).check();
  await form.getByLabel("Condition event").selectOption("purchase");
  await form.getByRole("spinbutton", { name: "At least" }).fill("2");
  await form.getByRole("button", { name: "Create cohort" }).click();
  await page.getByRole("heading", { name: "Cohort repeat-buyers" }).waitFor();
  const repeat = [...persons({ "anon-7": "u07" }).values()].filter((l) => l.filter((e) => e.event === "purchase").length >= 2).length;
  assert.ok(repeat > 0);
  await page.getByTestId("cohort-size").getByText(String(repeat), { exact: true }).waitFor();
  assert.match(await page.locator(".facts").textContent(), /did purchase at least 2 times/);
  await page.shot("behavior-cohort");

  // Page views of the persons of cohort "picked".
  await page.getByRole("navigation", { name: "Project" }).getByRole("link", { name: "Insights" }).click();
  await page.getByRole("group", { name: "Series A" }).waitFor();
  await range(page);
  const add = page.getByRole("group", { name: "Add to Filters" });
  await add.getByLabel("Filter type").selectOption("cohort");
  await add.getByLabel("Cohort").selectOption("picked");
  await add.getByRole("button", { name: "Add filter" }).click();
  assert.deepEqual(await page.getByRole("list", { name: "Filters" }).getByRole("listitem").allTextContents(), ["in cohort picked ×"]);
  const answer = await run(page);
  const views = perDay((e) => pageviews(e) && ["u01", "u02", "u03"].includes(e.distinct_id));
  const rows = await tableRows(answer.getByRole("table", { name: "Trends table" }));
  assert.deepEqual(rows, [["$pageview", fmt(views.reduce((x, y) => x + y, 0)), ...views.map(fmt)]]);
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

// ---- the churn model ----

// 300 persons of a product over the 90 days before CUT: each signs up first, then has events a
// day at its own rate; a churner's rate drops to a fifth from its own day on (10 to 45 days
// before the cut), a stayer's goes on. Four in five are labelled `churned` true or false
// (tests/e2e/test_behavior_churn.py's population, made here from the seeded generator).
const CUT = Date.UTC(2024, 5, 30);
const CUT_DAY = "2024-06-29"; // the features' cut-off: events up to the end of that day
const CHURN_ACTIONS = ["open", "open", "search", "view", "buy"];
function churnPopulation(n) {
  const r = random(5);
  const events = [];
  const labels = new Map();
  let k = 0;
  for (let p = 0; p < n; p++) {
    const id = `user-${String(p).padStart(3, "0")}`;
    const add = (event, t) => events.push({ event, distinct_id: id, timestamp: iso(t), uuid: `c-${k++}` });
    const churned = r() < 0.4;
    const rate = 0.05 + r() * 1.15; // events a day
    const fadeAt = churned ? 10 + r() * 35 : null; // days before the cut
    add("signup", CUT - 91 * DAY + Math.floor(r() * 86400) * 1000);
    for (let day = 90; day > 0; day--) {
      const rr = churned && day < fadeAt ? rate * 0.2 : rate; // fading, not gone: recency alone does not tell
      let times = 0;
      for (let j = 0; j < 3; j++) if (r() < rr / 3) times++;
      for (let j = 0; j < times; j++) add(CHURN_ACTIONS[Math.floor(r() * CHURN_ACTIONS.length)], CUT - day * DAY - Math.floor(r() * 86400) * 1000);
    }
    if (r() < 0.8) labels.set(id, churned);
  }
  return { events, labels };
}

// The platform's choice of the persons held out of training: FNV-1a (64 bits) of the id, mod 5.
function heldOut(id) {
  let h = 1469598103934665603n;
  for (const b of new TextEncoder().encode(id)) h = ((h ^ BigInt(b)) * 1099511628211n) & 0xffffffffffffffffn;
  return h % 5n === 0n;
}

function rocAuc(scores, labels) {
  let wins = 0;
  let pairs = 0;
  scores.forEach((s, i) => {
    if (!labels[i]) return;
    scores.forEach((t, j) => {
      if (labels[j]) return;
      pairs++;
      wins += s > t ? 1 : s === t ? 0.5 : 0;
    });
  });
  return wins / pairs;
}

const labelEvents = (entries) =>
  entries.map(([id, churned]) => ({ event: "$set", distinct_id: id, timestamp: "2024-07-15T00:00:00Z", uuid: `label-${id}`, properties: { $set: { churned } } }));

test("churn: too few labels refused as the API says; then trained through a pipeline, its scores drawn and the persons most at risk", async () => {
  const CHURN = "/api/v1/behavior/churn";
  const N = 300;
  const { events, labels } = churnPopulation(N);
  await call("POST", "/api/v1/behavior/projects", { name: "churn", description: "persons who leave" }, 201);
  for (let at = 0; at < events.length; at += 5000) await call("POST", `${CHURN}/capture`, { batch: events.slice(at, at + 5000) });
  // Ten persons labelled first: too few to train on.
  const first = [...labels].slice(0, 10);
  await call("POST", `${CHURN}/capture`, { batch: labelEvents(first) });
  const trainable = first.filter(([id]) => !heldOut(id));

  const page = await openPage(s.browser, s.platform);
  number = new Intl.NumberFormat(await page.evaluate(() => navigator.language), { maximumFractionDigits: 2 });
  await page.goto(`${s.platform.url}/#/behavior/churn`);
  await page.getByRole("heading", { name: "Behaviour: churn" }).waitFor();
  await page.getByRole("navigation", { name: "Project" }).getByRole("link", { name: "Churn" }).click();
  await page.getByTestId("churn-none").waitFor();
  const form = page.getByRole("form", { name: "Train the churn model" });
  const label = form.getByRole("combobox", { name: "Label property" });
  await eventually(async () => (await label.locator("option").allTextContents()).includes("churned"), "the person property churned offered");
  await label.selectOption("churned");
  await form.getByLabel("Cut-off date").fill(CUT_DAY);
  await form.getByRole("spinbutton", { name: "Rounds" }).fill("60");
  await form.getByRole("button", { name: "Train" }).click();
  const alert = form.getByRole("alert");
  await alert.waitFor();
  assert.equal(
    await alert.textContent(),
    `the churn model needs at least 20 persons labelled by 'churned' (true or false), of both kinds; there are ${trainable.length} ` +
      `(${trainable.filter(([, c]) => c).length} true) besides those held out for its evaluation (bad_request)`,
  );
  await page.shot("behavior-churn-too-few");

  // Everyone else labelled: trained through the pipeline, followed on the page until scored.
  await call("POST", `${CHURN}/capture`, { batch: labelEvents([...labels].slice(10)) });
  await form.getByRole("button", { name: "Train" }).click();
  await alert.waitFor({ state: "detached" });
  const state = page.getByTestId("churn-state");
  const seen = new Set();
  await eventually(
    async () => {
      if ((await alert.count()) > 0) throw new Error(await alert.textContent());
      const now = ((await state.count()) ? await state.textContent() : "").trim();
      if (now) seen.add(now);
      if (now === "failed") throw new Error(await page.getByRole("alert").first().textContent());
      return now === "scored";
    },
    "the churn model scored",
    240000,
  );
  assert.ok(seen.has("training") || seen.has("preparing"), `states shown: ${[...seen]}`);
  const model = await call("GET", `${CHURN}/models/churn`);
  assert.equal(model.state, "scored");
  assert.equal(model.persons, N);
  assert.equal(model.scored, N);
  assert.equal(model.labelled + model.held_out, labels.size);
  assert.equal(model.held_out, [...labels.keys()].filter(heldOut).length);

  // The model's facts as the API gives them, the AUC to three places.
  await page.getByTestId("churn-scored").getByText(fmt(N), { exact: true }).waitFor();
  assert.equal(await page.getByTestId("churn-auc").textContent(), model.holdout_auc.toFixed(3));
  assert.equal(await page.getByTestId("churn-labelled").textContent(), fmt(model.labelled));
  assert.equal(await page.getByTestId("churn-held-out").textContent(), fmt(model.held_out));
  const link = async (id) => {
    const a = page.getByTestId(id).getByRole("link");
    return [await a.textContent(), await a.getAttribute("href")];
  };
  assert.deepEqual(await link("churn-model-version"), [`churn-churn v${model.model_version}`, `#/models/churn-churn/versions/${model.model_version}`]);
  assert.deepEqual(await link("churn-run"), [`run ${model.pipeline_run}`, `#/pipeline-runs/${model.pipeline_run}`]);
  assert.deepEqual(await link("churn-dataset"), [`churn-churn v${model.version}`, `#/datasets/churn-churn/versions/${model.version}`]);
  assert.deepEqual(await page.getByRole("list", { name: "Features" }).getByRole("listitem").allTextContents(), model.features);
  assert.ok(model.features.includes("recency_days") && model.features.includes("n_open"), JSON.stringify(model.features));

  // Every person's probability, as written: the held-out persons' AUC is the one reported.
  const listed = await call("GET", `${CHURN}/persons?limit=10000`);
  assert.equal(listed.total, N);
  const prob = new Map(listed.persons.map((p) => [p.distinct_id, p.properties.churn_probability]));
  assert.ok([...prob.values()].every((v) => typeof v === "number" && v >= 0 && v <= 1));
  const held = [...labels.keys()].filter(heldOut);
  const auc = rocAuc(held.map((id) => prob.get(id)), held.map((id) => labels.get(id)));
  assert.ok(Math.abs(auc - model.holdout_auc) < 1e-3, `${auc} vs ${model.holdout_auc}`);
  assert.ok(auc > 0.7, `held-out AUC ${auc}`);

  // The histogram: ten bins of a tenth, every person in one.
  const histogram = page.getByRole("group", { name: "Churn probability" });
  await histogram.waitFor();
  const bars = await histogram.locator("g[data-count]").evaluateAll((gs) => gs.map((g) => Number(g.dataset.count)));
  assert.equal(bars.length, 10);
  assert.equal(bars.reduce((x, y) => x + y, 0), N);
  const want = Array(10).fill(0);
  for (const v of prob.values()) want[Math.min(9, Math.floor(v * 10))]++;
  assert.deepEqual(bars, want);

  // The 20 persons most at risk, the likeliest first (ties by id), each opening its page.
  const risk = [...prob].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 20);
  const table = page.getByRole("region", { name: "Most at risk" }).getByRole("table");
  const rows = await tableRows(table);
  assert.deepEqual(
    rows.map((r) => r.slice(0, 3)),
    risk.map(([id, p]) => [id, p.toFixed(4), String(labels.get(id) ?? "—")]),
  );
  await page.shot("behavior-churn");
  await table.getByRole("link", { name: risk[0][0], exact: true }).click();
  await page.getByRole("heading", { name: `Person ${risk[0][0]}` }).waitFor();
  const property = page.getByRole("row").filter({ has: page.getByRole("cell", { name: "churn_probability", exact: true }) });
  await property.waitFor();
  assert.deepEqual(await property.getByRole("cell").allTextContents(), ["churn_probability", String(risk[0][1])]);

  const problems = page.problems().filter((p) => !/HTTP 404: GET .*\/models\/churn$/.test(p) && !/HTTP 400: POST .*\/models\/churn$/.test(p) && !/status of 40[04]/.test(p));
  assert.deepEqual(problems, []);
  await page.context().close();
});
