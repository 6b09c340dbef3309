// The Usage pages in headless Chromium against a real aimass that counts calls every second
// (AIMASS_USAGE_FLUSH_S=1). A small HTTP service (200 on /ok, 500 on /fail, POSTs to /hook kept)
// behind two gateway routes: shop-api (application shop, 600 calls a minute per consumer) and
// tight (application tools, 20 a minute). Alice calls shop-api 12 times, bob 6 times well and 6
// times to fail, carol tight 15 times well and 2 to fail. Traffic: the table by consumer shows
// exactly those calls and errors (the API's numbers), by route and by application their sums;
// the totals; the charts; the top consumers by calls put carol first, by errors bob then
// carol; the quota bars: alice 12 / 600, carol 17 / 20 in red. Alerts: a rule added through the
// form (error rate by consumer above 0.2 over 10 s, 5 calls at least, a webhook) fires for bob
// while he keeps failing (the events table, the webhook's 200, the hook received), a rule with
// neither threshold nor anomaly shows the API's message, a viewer sees no buttons, the alert
// resolves once bob stops, the rule deleted. Screenshots: console/test-output/.
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";
import { eventually, openPage, platformForTests } from "./harness.mjs";

const s = platformForTests({ env: { AIMASS_USAGE_FLUSH_S: "1" } });
const USAGE = "/api/v1/usage";

// The service behind the routes.
const hooks = [];
let service;
let serviceUrl;
before(async () => {
  service = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      if (req.method === "POST" && req.url.endsWith("/hook")) hooks.push(JSON.parse(body));
      res.writeHead(req.url.includes("/fail") ? 500 : 200, { "Content-Type": "application/json" });
      res.end('{"ok":true}');
    });
  });
  await new Promise((ok) => service.listen(0, "127.0.0.1", ok));
  serviceUrl = `http://127.0.0.1:${service.address().port}`;
});
after(() => new Promise((ok) => service.close(ok)));

async function call(method, path, body, status = 200) {
  const r = await s.platform.api(method, path, body);
  assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
  return r.body;
}

const tokens = {};
async function user(name, roles = ["developer"]) {
  const password = `${name[0].toUpperCase()}${name.slice(1)}-pass-12345`;
  await call("POST", "/api/v1/users", { username: name, password, roles }, 201);
  tokens[name] = await s.platform.login(name, password);
  return password;
}

// A call through the gateway as a user; its status.
async function through(who, path) {
  const r = await fetch(`${s.platform.url}${path}`, { headers: { Authorization: `Bearer ${tokens[who]}` } });
  await r.arrayBuffer();
  return r.status;
}

async function totals(by) {
  const body = await call("GET", `${USAGE}/series?by=${by}&step_s=60`);
  return Object.fromEntries(body.series.map((x) => [x.value, x.total]));
}

// The table's rows as the page shows them, in its order (most calls first, then by name): value →
// [calls, errors] from its cells' text (and the data attributes, which must agree).
async function shownTable(page, by) {
  const rows = page.locator(`table[aria-label="Usage by ${by}"] tbody tr`);
  return Object.fromEntries(
    await rows.evaluateAll((trs) =>
      trs.map((tr) => {
        const cells = [...tr.querySelectorAll("td")].map((td) => td.textContent);
        if (cells[1] !== Number(tr.dataset.calls).toLocaleString() || cells[2] !== Number(tr.dataset.errors).toLocaleString()) {
          throw new Error(`cells ${cells} disagree with ${JSON.stringify(tr.dataset)}`);
        }
        return [cells[0], [Number(cells[1].replace(/\D/g, "")), Number(cells[2].replace(/\D/g, ""))]];
      }),
    ),
  );
}

async function tableIs(page, by, want) {
  let seen;
  try {
    await eventually(async () => JSON.stringify((seen = await shownTable(page, by))) === JSON.stringify(want), `the table by ${by}`);
  } catch (e) {
    assert.fail(`${e.message}: want ${JSON.stringify(want)}, seen ${JSON.stringify(seen)}`);
  }
}

const expected400 = (p) => !/HTTP 400: POST .*\/api\/v1\/usage\/alerts$/.test(p) && !/status of 400/.test(p);

test("traffic: the table by consumer, route and application, the totals, charts, top consumers and quota bars are the calls made", async () => {
  await call("POST", "/api/v1/gateway/upstreams", { name: "svc", targets: [{ url: serviceUrl }] }, 201);
  await call(
    "POST",
    "/api/v1/gateway/routes",
    { name: "shop-api", paths: ["/svc/x"], upstream: "svc", application: "shop", plugins: { rate_limit: { rate: 600, per: "minute", key: "consumer" } } },
    201,
  );
  await call(
    "POST",
    "/api/v1/gateway/routes",
    { name: "tight", paths: ["/svc/tight"], upstream: "svc", application: "tools", plugins: { rate_limit: { rate: 20, per: "minute", key: "consumer" } } },
    201,
  );
  await user("alice");
  await user("bob");
  await user("carol");

  const page = await openPage(s.browser, s.platform);
  await page.getByRole("link", { name: "Usage", exact: true }).click();
  await page.getByRole("heading", { name: "Usage", exact: true }).waitFor();
  // Nothing counted yet.
  await page.getByText("No calls in this range.").first().waitFor();
  assert.equal(await page.getByTestId("total-calls").textContent(), "0");
  assert.equal(await page.getByLabel("By", { exact: true }).inputValue(), "application");
  assert.equal(await page.getByLabel("Range", { exact: true }).inputValue(), "1h");

  for (let i = 0; i < 12; i++) assert.equal(await through("alice", "/svc/x/ok"), 200);
  for (let i = 0; i < 12; i++) assert.equal(await through("bob", i % 2 ? "/svc/x/fail" : "/svc/x/ok"), i % 2 ? 500 : 200);
  for (let i = 0; i < 17; i++) assert.equal(await through("carol", i % 8 === 3 ? "/svc/tight/fail" : "/svc/tight/ok"), i % 8 === 3 ? 500 : 200);

  // The API counts them within a second or two; the page follows within 5 s more.
  let api;
  await eventually(async () => (api = await totals("consumer")).alice?.calls === 12 && api.bob?.calls === 12 && api.carol?.calls === 17, "the calls to be counted");
  assert.deepEqual(
    Object.fromEntries(Object.entries(api).map(([k, t]) => [k, [t.calls, t.errors]])),
    { carol: [17, 2], alice: [12, 0], bob: [12, 6] },
  );

  await page.getByLabel("By", { exact: true }).selectOption("consumer");
  assert.match(page.url(), /#\/usage\?.*by=consumer/);
  await tableIs(page, "consumer", { carol: [17, 2], alice: [12, 0], bob: [12, 6] });
  const bobRow = page.locator('table[aria-label="Usage by consumer"] tr[data-value="bob"]');
  assert.equal(await bobRow.locator("td").nth(4).textContent(), "50.0%");
  assert.equal(await bobRow.locator("td").nth(3).textContent(), "0", "no 4xx");
  // The totals (every kind) are read at the next refresh, within 5 s.
  await eventually(async () => (await page.getByTestId("total-calls").textContent()) === "41", "41 calls in the totals");
  assert.equal(await page.getByTestId("total-errors").textContent(), "8");
  assert.equal(await page.getByTestId("total-error-rate").textContent(), `${((8 / 41) * 100).toFixed(1)}%`);

  // Three charts, a line per consumer in each legend.
  const charts = page.getByTestId("usage-charts").locator(".chart");
  assert.equal(await charts.count(), 3);
  const legend = await charts.first().locator(".u-legend").textContent();
  for (const who of ["alice", "bob", "carol"]) assert.ok(legend.includes(who), `${who} in the legend: ${legend}`);
  assert.ok(Number(await charts.first().getAttribute("data-points")) >= 60, "a point a minute over the hour");

  // By route and by application: the sums.
  await page.getByLabel("By", { exact: true }).selectOption("route");
  await tableIs(page, "route", { "shop-api": [24, 6], tight: [17, 2] });
  const routes = await totals("route");
  assert.deepEqual([routes["shop-api"].calls, routes["shop-api"].errors, routes.tight.calls, routes.tight.errors], [24, 6, 17, 2]);
  await page.getByLabel("By", { exact: true }).selectOption("application");
  await tableIs(page, "application", { shop: [24, 6], tools: [17, 2] });
  const apps = await totals("application");
  assert.deepEqual([apps.shop.calls, apps.shop.errors, apps.tools.calls, apps.tools.errors], [24, 6, 17, 2]);

  // Top consumers: by errors bob (6) then carol (2), alice (none) left out; by calls carol (17)
  // first, then alice and bob (12 each).
  const byErrors = page.locator('svg[aria-label="Top consumers by errors"] g[data-label]');
  const labels = (bars) => bars.evaluateAll((gs) => gs.map((g) => g.dataset.label));
  await eventually(async () => JSON.stringify(await labels(byErrors)) === '["bob","carol"]', "bob and carol by errors");
  assert.deepEqual((await call("GET", `${USAGE}/top?by=consumer&metric=errors&limit=2`)).top.map((t) => t.value), ["bob", "carol"]);
  assert.equal(await byErrors.first().getAttribute("aria-label"), "bob: 12 calls, 6 errors (50.0%)");
  const byCalls = await page.locator('svg[aria-label="Top consumers by calls"] g[data-label]').evaluateAll((gs) => gs.map((g) => g.dataset.label));
  assert.equal(byCalls[0], "carol");
  assert.deepEqual(byCalls.slice(1).sort(), ["alice", "bob"]);

  // Quota: calls over the last minute against the limit; carol's 17 of 20 in red.
  const alice = page.getByRole("meter", { name: "Quota of alice on shop-api" });
  await alice.waitFor();
  assert.equal(await alice.getAttribute("aria-valuenow"), "12");
  assert.equal(await alice.getAttribute("aria-valuemax"), "600");
  const aliceRow = page.locator('.usage-quota-row[data-route="shop-api"][data-consumer="alice"]');
  assert.equal(await aliceRow.getByTestId("quota-text").textContent(), "12 / 600 in 60 s (2.0%)");
  const quota = (await call("GET", `${USAGE}/quota`)).quota.find((q) => q.route === "shop-api" && q.consumer === "alice");
  assert.deepEqual([quota.calls, quota.limit], [12, 600]);
  const carolRow = page.locator('.usage-quota-row[data-route="tight"][data-consumer="carol"]');
  assert.equal(await carolRow.getByTestId("quota-text").textContent(), "17 / 20 in 60 s (85.0%)");
  const fill = (row) => row.locator(".usage-quota-fill").evaluate((el) => getComputedStyle(el).backgroundColor);
  const danger = await page.evaluate(() => {
    const probe = document.createElement("span");
    probe.style.color = "var(--danger)";
    document.body.append(probe);
    const c = getComputedStyle(probe).color;
    probe.remove();
    return c;
  });
  assert.equal(await fill(carolRow), danger, "above 0.8: red");
  assert.notEqual(await fill(aliceRow), danger, "below 0.8: not red");
  assert.equal(await alice.locator(".usage-quota-fill").evaluate((el) => el.style.width), "2%");

  // The dataset and the cube are linked.
  assert.equal(await page.getByRole("link", { name: "Cubes › platform-usage" }).getAttribute("href"), "#/cubes/platform-usage");
  await page.shot("usage");

  // A shorter range keeps the calls (made just now) and reads 10 s buckets.
  await page.getByLabel("Range", { exact: true }).selectOption("15m");
  await eventually(async () => Number(await charts.first().getAttribute("data-points")) >= 90, "90 points of 10 s");
  await tableIs(page, "application", { shop: [24, 6], tools: [17, 2] });
  assert.deepEqual(page.problems(), []);
});

test("alerts: a rule from the form fires for bob, a rule without a threshold shows the API's message, the rule deleted", async () => {
  const page = await openPage(s.browser, s.platform);
  await page.goto(`${s.platform.url}/#/usage`);
  await page.getByRole("navigation", { name: "Usage" }).getByRole("link", { name: "Alerts" }).click();
  await page.getByText("No alert rules yet.").waitFor();
  await page.getByText("No alert has fired yet.").waitFor();

  await page.getByRole("button", { name: "New rule" }).click();
  let form = page.getByRole("form", { name: "New alert rule" });
  await form.getByLabel("Name").fill("consumer-errors");
  await form.getByLabel("Metric").selectOption("error_rate");
  await form.getByLabel("By", { exact: true }).selectOption("consumer");
  await form.getByLabel(/^Threshold/).fill("0.2");
  await form.getByLabel(/^Window/).fill("10");
  await form.getByLabel("Min calls").fill("5");
  await form.getByLabel(/^Webhook/).fill(`${serviceUrl}/hook`);
  await form.getByRole("button", { name: "Add rule" }).click();
  await form.waitFor({ state: "detached" });

  const row = page.locator('table[aria-label="Alert rules"] tr[data-rule="consumer-errors"]');
  await row.waitFor();
  const cells = await row.locator("td").allTextContents();
  assert.deepEqual(cells.slice(0, 8), ["consumer-errors", "Error rate", "consumer", "every value", "> 0.2 (20.0%)", "10 s", "5", `${serviceUrl}/hook`]);
  const rule = await call("GET", `${USAGE}/alerts/consumer-errors`);
  assert.deepEqual(
    [rule.metric, rule.by, rule.value, rule.threshold, rule.anomaly, rule.window_s, rule.min_calls, rule.webhook],
    ["error_rate", "consumer", "", 0.2, undefined, 10, 5, `${serviceUrl}/hook`],
  );

  // Bob fails half his calls, alice none, until the rule fires for bob (its window is the last
  // whole 10 s).
  const firing = page.locator('table[aria-label="Alert events"] tr[data-rule="consumer-errors"][data-value="bob"][data-state="firing"]');
  const until = Date.now() + 40000;
  while ((await firing.count()) === 0) {
    assert.ok(Date.now() < until, "the rule to fire for bob");
    for (let i = 0; i < 6; i++) await through("bob", i % 2 ? "/svc/x/fail" : "/svc/x/ok");
    for (let i = 0; i < 3; i++) await through("alice", "/svc/x/ok");
    await new Promise((r) => setTimeout(r, 1000));
  }
  const events = (await call("GET", `${USAGE}/alert-events?rule=consumer-errors`)).events;
  const fired = events.find((e) => e.value === "bob" && e.state === "firing");
  assert.ok(fired, JSON.stringify(events));
  assert.ok(fired.observed > 0.2, `observed ${fired.observed}`);
  assert.equal(fired.threshold, 0.2);
  assert.equal(fired.webhook_status, 200);
  assert.ok(!events.some((e) => e.value === "alice"), "alice never fails");
  assert.equal(await page.locator('table[aria-label="Alert events"] tr[data-value="alice"]').count(), 0);
  assert.equal(Number(await firing.first().getAttribute("data-observed")), fired.observed);
  const eventCells = await firing.first().locator("td").allTextContents();
  assert.deepEqual(eventCells.slice(1, 4), ["consumer-errors", "bob", "firing"]);
  assert.equal(eventCells[5], "0.2 (20.0%)");
  assert.equal(eventCells[6], "200", "the webhook answered 200");
  assert.ok(hooks.some((h) => h.rule === "consumer-errors" && h.value === "bob" && h.state === "firing"), JSON.stringify(hooks));
  // Bob is firing now: the same events read (bob's calls go on failing for 10 s more, at least).
  assert.equal(await row.getByTestId("firing-now").textContent(), "bob");
  await page.shot("usage-alerts");
  // The events filtered by rule: as many rows as the API has.
  await page.getByLabel("Rule", { exact: true }).selectOption("consumer-errors");
  let want;
  await eventually(
    async () =>
      (await page.locator('table[aria-label="Alert events"] tbody tr').count()) ===
      (want = (await call("GET", `${USAGE}/alert-events?rule=consumer-errors`)).events.length),
    `the rule's ${want} events`,
  );
  await page.getByLabel("Rule", { exact: true }).selectOption("");

  // Neither a threshold nor an anomaly: the API says so and nothing is added.
  const body = { name: "no-limit", metric: "error_rate", by: "application", window_s: 60, min_calls: 20 };
  const refused = await s.platform.api("POST", `${USAGE}/alerts`, body);
  assert.equal(refused.status, 400);
  await page.getByRole("button", { name: "New rule" }).click();
  form = page.getByRole("form", { name: "New alert rule" });
  await form.getByLabel("Name").fill("no-limit");
  await form.getByRole("button", { name: "Add rule" }).click();
  const message = form.getByRole("alert");
  await message.waitFor();
  assert.equal(await message.textContent(), refused.body.error.message);
  assert.match(refused.body.error.message, /threshold or an anomaly/);
  await page.shot("usage-alert-refused");
  await form.getByRole("button", { name: "Cancel" }).click();
  assert.deepEqual((await call("GET", `${USAGE}/alerts`)).rules.map((r) => r.name), ["consumer-errors"]);

  // A viewer reads the rules and events but has no buttons.
  const viewerPassword = await user("vera", ["viewer"]);
  const viewer = await openPage(s.browser, s.platform, { username: "vera", password: viewerPassword });
  await viewer.goto(`${s.platform.url}/#/usage/alerts`);
  await viewer.locator('table[aria-label="Alert rules"] tr[data-rule="consumer-errors"]').waitFor();
  assert.equal(await viewer.getByRole("button", { name: "New rule" }).count(), 0);
  assert.equal(await viewer.getByRole("button", { name: "Delete" }).count(), 0);
  assert.deepEqual(viewer.problems(), []);

  // Bob stopped calling: his window holds fewer than 5 calls, the alert resolves (a newer row
  // than the firing one) and bob is firing no more.
  const resolved = page.locator('table[aria-label="Alert events"] tr[data-rule="consumer-errors"][data-value="bob"][data-state="resolved"]');
  await resolved.first().waitFor({ timeout: 40000 });
  const states = await page.locator('table[aria-label="Alert events"] tr[data-value="bob"]').evaluateAll((trs) => trs.map((tr) => tr.dataset.state));
  assert.deepEqual(states.slice(0, 2), ["resolved", "firing"]);
  await eventually(async () => (await row.getByTestId("firing-now").textContent()) === "", "bob firing no more");
  assert.ok(hooks.some((h) => h.rule === "consumer-errors" && h.value === "bob" && h.state === "resolved"), JSON.stringify(hooks));

  // Deleted after a confirmation.
  page.once("dialog", (d) => d.accept());
  await row.getByRole("button", { name: "Delete" }).click();
  await page.getByText("No alert rules yet.").waitFor();
  assert.equal((await s.platform.api("GET", `${USAGE}/alerts/consumer-errors`)).status, 404);
  assert.deepEqual(page.problems().filter(expected400), []);
});
