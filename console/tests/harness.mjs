// What the console's browser tests share: a real aimass started on a free port with a fresh
// data directory, Debian's Chromium driven by playwright-core, pages that fail the test on any
// browser console error, uncaught exception or failed request, screenshots under
// console/test-output/, and the platform's API for setting things up as another client would.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, "../..");
export const outDir = resolve(here, "../test-output");
export const ADMIN_PASSWORD = "Console-admin-pass-1";

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
    s.on("error", fail);
  });
}

export class Platform {
  // `env`: more environment for aimass (module settings such as AIMASS_CROWD_VIDEO_DIRS).
  static async start({ env = {} } = {}) {
    const p = new Platform();
    p.dir = mkdtempSync(join(tmpdir(), "aimass-console-"));
    p.port = await freePort();
    p.url = `http://127.0.0.1:${p.port}`;
    const bin = process.env.AIMASS_BIN ?? join(root, "build/aimass");
    p.logs = "";
    p.proc = spawn(bin, ["server", "--listen", `127.0.0.1:${p.port}`, "--grpc-listen", "", "--data-dir", join(p.dir, "data")], {
      env: { ...process.env, AIMASS_ADMIN_PASSWORD: ADMIN_PASSWORD, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    p.proc.stdout.on("data", (d) => (p.logs += d));
    p.proc.stderr.on("data", (d) => (p.logs += d));
    const until = Date.now() + 60000;
    for (;;) {
      try {
        if ((await fetch(`${p.url}/readyz`)).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > until || p.proc.exitCode !== null) throw new Error(`aimass did not start:\n${p.logs}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    p.adminToken = await p.login("admin", ADMIN_PASSWORD);
    return p;
  }

  async login(username, password) {
    const r = await fetch(`${this.url}/api/v1/auth/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
    if (!r.ok) throw new Error(`login ${username}: ${r.status} ${await r.text()}`);
    return (await r.json()).access_token;
  }

  // The API as a client: returns {status, body}; JSON bodies are sent and parsed.
  async api(method, path, body, token = this.adminToken, headers = {}) {
    const init = { method, headers: { Authorization: `Bearer ${token}`, ...headers } };
    if (body instanceof Uint8Array || typeof body === "string") init.body = body;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    const r = await fetch(`${this.url}${path}`, init);
    const text = await r.text();
    let parsed = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: r.status, body: parsed };
  }

  async stop() {
    this.proc.kill("SIGTERM");
    await new Promise((r) => (this.proc.exitCode !== null ? r() : this.proc.on("exit", r)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function launchBrowser() {
  mkdirSync(outDir, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

// A signed-in page whose problems are collected: call page.problems() at the end of a test.
export async function openPage(browser, platform, { username = "admin", password = ADMIN_PASSWORD, viewport } = {}) {
  const context = await browser.newContext({ viewport: viewport ?? { width: 1366, height: 800 } });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    // A fetch the page aborted on purpose (leaving a page, the events stream) is not a failure.
    if (!/ERR_ABORTED/.test(r.failure()?.errorText ?? "")) problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on("response", (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`));
  page.problems = () => problems;
  page.shot = (name) => page.screenshot({ path: join(outDir, `${name}.png`), fullPage: true });
  await page.goto(`${platform.url}/#/login`);
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', password);
  await page.click('button[type="submit"]');
  await page.getByTestId("user").waitFor();
  return page;
}

// Real models, made by Debian's python3-torch (tests/e2e/models.py).
export function onnxModel(path, seed = 0) {
  execFileSync("/usr/bin/python3", ["-c", `import models, pathlib; models.onnx_mlp(pathlib.Path(${JSON.stringify(path)}), seed=${seed})`], {
    env: { ...process.env, PYTHONPATH: join(root, "tests/e2e") },
    stdio: ["ignore", "ignore", "inherit"],
  });
  return path;
}

export async function eventually(check, what, ms = 15000) {
  const until = Date.now() + ms;
  let last;
  for (;;) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// The hooks every test file has: a platform and a browser started before its tests, both gone
// after them. The fields are set once the hook has run (inside tests, not at import). `options`
// go to Platform.start.
export function platformForTests(options) {
  const s = { platform: null, browser: null };
  before(async () => {
    s.platform = await Platform.start(options);
    s.browser = await launchBrowser();
  });
  after(async () => {
    await s.browser?.close();
    await s.platform?.stop();
  });
  return s;
}

// A small seeded generator (mulberry32): the same data on every run.
export function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
