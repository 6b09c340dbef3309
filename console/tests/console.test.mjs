// The console as a user meets it, in headless Chromium against a real aimass: sign in, upload a
// model version, deploy it and watch its chart draw, move a canary, pause and resume a gateway
// route, redrive a dead letter, run a cron job now, and a viewer who sees no write buttons and
// whose writes the server still refuses. Any browser console error or failed request fails the
// test that caused it. Screenshots of each page: console/test-output/.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Platform, eventually, launchBrowser, onnxModel, openPage } from "./harness.mjs";

let platform;
let browser;
const work = mkdtempSync(join(tmpdir(), "aimass-console-models-"));
const v1 = onnxModel(join(work, "v1.onnx"), 1);
const v2 = onnxModel(join(work, "v2.onnx"), 2);
const X = { inputs: [{ name: "features", shape: [2, 4], datatype: "FP32", data: [0.1, 0.2, 0.3, 0.4, 1, 2, 3, 4] }] };

before(async () => {
  platform = await Platform.start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await platform?.stop();
});

function clean(page) {
  assert.deepEqual(page.problems(), [], "the browser saw errors or failed requests");
}

test("signing in shows every module's state and events as they happen", async () => {
  const page = await openPage(browser, platform);
  await page.getByRole("cell", { name: "registry" }).waitFor();
  await page.getByRole("cell", { name: "serving" }).waitFor();
  // An event made elsewhere reaches the page live.
  const made = await platform.api("POST", "/api/v1/models", { name: "evented" });
  assert.equal(made.status, 201);
  await page.getByText("registry.model.created").first().waitFor();
  await page.shot("home");
  // A reload keeps the session (sessionStorage); signing out leads back to the login.
  await page.reload();
  await page.getByTestId("user").waitFor();
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.locator('input[name="username"]').waitFor();
  clean(page);
  await page.context().close();
});

test("a model version uploaded through the page is validated and shown", async () => {
  const page = await openPage(browser, platform);
  await page.goto(`${platform.url}/#/models`);
  await page.getByRole("button", { name: "New model" }).click();
  await page.fill('input[name="model-name"]', "fashion");
  await page.fill('textarea[name="model-card"]', "# Fashion\n\nA **small** classifier.");
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByRole("link", { name: "fashion" }).waitFor();
  await page.shot("models");
  await page.getByRole("link", { name: "fashion" }).click();
  await page.getByRole("heading", { name: "Fashion", exact: true }).waitFor();  // the card, rendered
  await page.getByRole("button", { name: "Upload version" }).click();
  await page.setInputFiles('input[name="artifact"]', v1);
  await page.selectOption('select[name="framework"]', "onnx");
  await page.getByRole("button", { name: "Upload", exact: true }).click();
  await page.getByRole("link", { name: "1", exact: true }).waitFor();
  await page.shot("model");
  await page.getByRole("link", { name: "1", exact: true }).click();
  await page.getByRole("cell", { name: "features" }).waitFor();  // the signature read from the file
  await page.getByText("ready").first().waitFor();
  await page.shot("version");
  const listed = await platform.api("GET", "/api/v1/models/fashion/versions");
  assert.equal(listed.body.versions.length, 1);
  assert.equal(listed.body.versions[0].status, "ready");

  // A folder: tarred in the browser, stored as a directory version with its files.
  const folder = join(work, "fashion-dir");
  mkdirSync(join(folder, "config"), { recursive: true });
  copyFileSync(v1, join(folder, "model.onnx"));
  writeFileSync(join(folder, "config", "labels.txt"), "shirt\ntrouser\n");
  await page.goto(`${platform.url}/#/models/fashion`);
  await page.getByRole("button", { name: "Upload version" }).click();
  await page.getByLabel("a folder").check();
  await page.setInputFiles('input[name="artifact-folder"]', folder);
  await page.selectOption('select[name="framework"]', "onnx");
  await page.getByRole("button", { name: "Upload", exact: true }).click();
  await page.getByRole("link", { name: "2", exact: true }).click();
  await page.getByRole("cell", { name: "config/labels.txt" }).waitFor();
  await page.getByText("entry").first().waitFor();
  const files = await platform.api("GET", "/api/v1/models/fashion/versions/2/files");
  assert.deepEqual(files.body.files.map((f) => f.path).sort(), ["config/labels.txt", "model.onnx"]);
  clean(page);
  await page.context().close();
});

test("a deployment made on its page draws its traffic, and its canary weight moves", async () => {
  const page = await openPage(browser, platform);
  await page.goto(`${platform.url}/#/deployments`);
  await page.getByRole("button", { name: "New deployment" }).click();
  await page.fill('input[name="deployment-name"]', "fashion-live");
  await page.fill('input[name="deployment-model"]', "fashion");
  await page.fill('input[name="deployment-ref"]', "1");
  await page.getByRole("button", { name: "Deploy" }).click();
  await page.getByRole("heading", { name: "Live", exact: true }).waitFor();
  await page.goto(`${platform.url}/#/deployments`);
  await page.getByRole("link", { name: "fashion-live" }).waitFor();
  await page.shot("deployments");
  await page.getByRole("link", { name: "fashion-live" }).click();
  await page.getByRole("heading", { name: "Live", exact: true }).waitFor();
  const sender = setInterval(() => void platform.api("POST", "/v2/models/fashion-live/infer", X), 50);
  try {
    // The requests/s chart gets points with traffic in them.
    await eventually(async () => Number(await page.locator(".chart").first().getAttribute("data-points")) >= 4, "the chart to draw points");
    await page.shot("deployment");
  } finally {
    clearInterval(sender);
  }
  const stats = await platform.api("GET", "/api/v1/deployments/fashion-live/metrics");
  assert.equal(stats.status, 200);
  assert.ok(stats.body.versions[0].success.count > 0);

  // A canary of version 2 at 10%, then moved with the slider (keyboard) to 30%.
  const pushed = await platform.api("POST", "/api/v1/models/fashion/versions?framework=onnx", readFileSync(v2), undefined, {
    "Content-Type": "application/octet-stream",
  });
  assert.equal(pushed.status, 201);
  const candidate = pushed.body.version;
  const canary = await platform.api("PATCH", "/api/v1/deployments/fashion-live", { traffic: { candidate: { version: candidate }, weight: 10 } });
  assert.equal(canary.status, 200, JSON.stringify(canary.body));
  await page.reload();
  await page.getByTestId("weight").filter({ hasText: "10%" }).waitFor();
  const slider = page.getByLabel("Canary weight");
  await slider.focus();
  for (let i = 0; i < 20; i++) await page.keyboard.press("ArrowRight");
  await eventually(async () => (await platform.api("GET", "/api/v1/deployments/fashion-live")).body.traffic.weight === 30, "the weight to reach 30");
  await page.getByRole("button", { name: "Roll back" }).click();
  await eventually(async () => (await platform.api("GET", "/api/v1/deployments/fashion-live")).body.traffic.candidate === null, "the rollback");
  assert.equal((await platform.api("GET", "/api/v1/deployments/fashion-live")).body.version, 1);
  // Again, and this time promoted: the candidate becomes the version served.
  assert.equal((await platform.api("PATCH", "/api/v1/deployments/fashion-live", { traffic: { candidate: { version: candidate }, weight: 10 } })).status, 200);
  await page.reload();
  await page.getByRole("button", { name: "Promote" }).click();
  await eventually(async () => {
    const d = (await platform.api("GET", "/api/v1/deployments/fashion-live")).body;
    return d.version === candidate && d.traffic.candidate === null;
  }, "the promotion");
  clean(page);
  await page.context().close();
});

test("a route paused on the gateway page answers 503 until it is resumed", async () => {
  assert.equal((await platform.api("POST", "/api/v1/gateway/upstreams", { name: "self", targets: [{ url: platform.url }] })).status, 201);
  const route = await platform.api("POST", "/api/v1/gateway/routes", { name: "front", paths: ["/front"], upstream: "self", strip_path: true, anonymous: true });
  assert.equal(route.status, 201, JSON.stringify(route.body));
  assert.equal((await fetch(`${platform.url}/front/healthz`)).status, 200);
  const page = await openPage(browser, platform);
  await page.goto(`${platform.url}/#/gateway`);
  await page.getByRole("cell", { name: "front", exact: true }).waitFor();
  await page.getByRole("button", { name: "Pause" }).click();
  await page.getByRole("button", { name: "Resume" }).waitFor();
  await eventually(async () => (await fetch(`${platform.url}/front/healthz`)).status === 503, "the paused route to answer 503");
  await page.shot("gateway");
  await page.getByRole("button", { name: "Resume" }).click();
  await page.getByRole("button", { name: "Pause" }).waitFor();
  await eventually(async () => (await fetch(`${platform.url}/front/healthz`)).status === 200, "the resumed route to answer 200");
  // The route's traffic, from the gateway's counters, once two readings are 5 s apart.
  await eventually(async () => /^\d+\.\d$/.test((await page.locator("tr", { hasText: "/front" }).locator("td").nth(4).innerText()).trim()), "the route's requests/s", 20000);

  // A consumer's key, made on the page and shown once, lets it through a route that wants one.
  assert.equal((await platform.api("POST", "/api/v1/gateway/consumers", { name: "shop", roles: [] })).status, 201);
  await page.reload();
  await page.getByRole("cell", { name: "shop", exact: true }).waitFor();
  await page.getByRole("button", { name: "new key" }).click();
  const key = (await page.locator(".notice code").innerText()).trim();
  const detail = await platform.api("GET", "/api/v1/gateway/consumers/shop");
  assert.equal(detail.body.api_keys.length, 1);
  assert.ok(key.length > 20, key);
  clean(page);
  await page.context().close();
});

test("a message published from the page that dies reaches the dead letters and is redriven", async () => {
  assert.equal((await platform.api("POST", "/api/v1/mq/topics", { name: "orders", partitions: 1 })).status, 201);
  const sub = await platform.api("POST", "/api/v1/mq/subscriptions", { name: "billing", topic: "orders", max_deliveries: 1, start: "earliest" });
  assert.equal(sub.status, 201, JSON.stringify(sub.body));
  const page = await openPage(browser, platform);
  await page.goto(`${platform.url}/#/mq`);
  await page.getByLabel("Topic").selectOption("orders");
  await page.getByLabel("Body").fill("order 42");
  await page.getByRole("button", { name: "Publish test message" }).click();
  await page.getByText("published: partition 0, offset 0").waitFor();
  // The consumer gives it back once: with max_deliveries 1 it is dead.
  const got = await platform.api("GET", "/api/v1/mq/subscriptions/billing/messages?max=1&wait_ms=2000");
  assert.equal(got.body.messages[0].body, "order 42");
  await platform.api("POST", "/api/v1/mq/subscriptions/billing/nack", { ids: [got.body.messages[0].id] });
  await page.getByTestId("dlq-billing").filter({ hasText: "1" }).waitFor();
  await page.getByTestId("dlq-billing").click();
  await page.getByRole("cell", { name: "order 42" }).waitFor();
  await page.shot("mq");
  await page.getByRole("button", { name: "Redrive", exact: true }).click();
  await page.getByTestId("dlq-billing").filter({ hasText: "0" }).waitFor();
  const again = await platform.api("GET", "/api/v1/mq/subscriptions/billing/messages?max=1&wait_ms=2000");
  assert.equal(again.body.messages[0].body, "order 42", "the redriven message is delivered again");
  clean(page);
  await page.context().close();
});

test("a cron job run from the page shows its run", async () => {
  const job = await platform.api("POST", "/api/v1/cron", {
    name: "nightly",
    schedule: "0 3 * * *",
    time_zone: "Europe/Paris",
    target: { type: "mq", topic: "orders", body: "tick" },
  });
  assert.equal(job.status, 201, JSON.stringify(job.body));
  const page = await openPage(browser, platform);
  await page.goto(`${platform.url}/#/cron`);
  await page.getByRole("button", { name: "nightly" }).click();
  await page.getByText("No runs yet.").waitFor();
  await page.getByRole("button", { name: "Run now" }).click();
  await page.getByRole("cell", { name: "manual" }).waitFor();
  await page.getByText("succeeded").first().waitFor();
  await page.getByRole("button", { name: "Pause" }).click();
  await page.getByRole("button", { name: "Resume" }).waitFor();
  await page.shot("cron");
  clean(page);
  await page.context().close();
});

test("a viewer made on the admin page sees no write buttons and the server refuses the writes", async () => {
  const admin = await openPage(browser, platform);
  await admin.goto(`${platform.url}/#/admin`);
  await admin.getByLabel("New username").fill("vera");
  await admin.getByLabel("New password").fill("Viewer-pass-123");
  await admin.getByLabel("Role").selectOption("viewer");
  await admin.getByRole("button", { name: "Create user" }).click();
  await admin.getByRole("cell", { name: "vera" }).waitFor();
  await admin.shot("admin");
  clean(admin);
  await admin.context().close();

  const page = await openPage(browser, platform, { username: "vera", password: "Viewer-pass-123", viewport: { width: 390, height: 844 } });
  for (const [path, buttons] of [
    ["/#/models", ["New model"]],
    ["/#/models/fashion", ["Upload version", "Point alias"]],
    ["/#/deployments", ["New deployment"]],
    ["/#/deployments/fashion-live", ["Delete"]],
    ["/#/cron", ["Run now", "Pause", "Resume"]],
    ["/#/assist", ["New bot"]],
    ["/#/recommend", ["New app"]],
  ]) {
    await page.goto(`${platform.url}${path}`);
    await page.getByRole("heading").first().waitFor();
    await page.waitForLoadState("networkidle").catch(() => {});
    for (const name of buttons) assert.equal(await page.getByRole("button", { name, exact: true }).count(), 0, `${path} shows "${name}" to a viewer`);
  }
  await page.shot("viewer-phone");
  const token = await platform.login("vera", "Viewer-pass-123");
  const refused = await platform.api("POST", "/api/v1/models", { name: "not-allowed" }, token);
  assert.equal(refused.status, 403);
  clean(page);
  await page.context().close();
});

test("home draws the last hour's traffic once the first interval has passed", async () => {
  // The platform has been up for more than one 10 s interval by now, under the tests' load.
  const history = await platform.api("GET", "/api/v1/metrics/history");
  assert.equal(history.status, 200);
  assert.ok(history.body.points.length >= 1, JSON.stringify(history.body));
  assert.ok(history.body.points.some((p) => p.requests_per_s > 0), "the tests' own requests are counted");
  const page = await openPage(browser, platform);
  await page.getByRole("heading", { name: "Traffic, last hour" }).waitFor();
  await eventually(async () => Number(await page.locator(".chart").first().getAttribute("data-points")) >= 1, "the traffic chart to draw");
  // The dark theme, on the page people see first.
  await page.getByRole("button", { name: "Switch theme" }).click();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
  await page.shot("home-dark");
  clean(page);
  await page.context().close();
});

test("a session the server ends (tokens revoked) leads back to the login page", async () => {
  const made = await platform.api("POST", "/api/v1/users", { username: "sam", password: "Sam-pass-12345", roles: ["developer"] });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const page = await openPage(browser, platform, { username: "sam", password: "Sam-pass-12345" });
  await page.goto(`${platform.url}/#/deployments`);
  await page.getByRole("heading", { name: "Deployments" }).waitFor();
  assert.equal((await platform.api("POST", "/api/v1/users/sam/revoke-tokens")).status, 200);
  // The page's next poll is refused; it says why, on the login page.
  await page.getByText("Your session has ended; please sign in again.").waitFor({ timeout: 15000 });
  await page.locator('input[name="username"]').waitFor();
  await page.shot("signed-out");
  const problems = page.problems().filter((p) => !/401/.test(p));
  assert.deepEqual(problems, [], "only the refused poll may fail");
  await page.context().close();
});
