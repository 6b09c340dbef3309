// The console's numbers (issue 28): the built JavaScript and CSS (raw, gzip as served), the
// time from navigation to the models list showing 1,000 models and the time to draw them once
// their data has arrived, and the deployment page's main-thread CPU while its live charts
// update every second. Headless Chromium over loopback, against a real aimass.
//   node bench/console.mjs            (bench/console.sh builds first)
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { Platform, launchBrowser, onnxModel, openPage, root } from "../console/tests/harness.mjs";

const RUNS = Number(process.env.RUNS ?? 7);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const assets = join(root, "build/console/assets");
const sizes = { js: [0, 0], css: [0, 0] };
for (const f of readdirSync(assets)) {
  const kind = f.endsWith(".js") ? "js" : f.endsWith(".css") ? "css" : null;
  if (!kind) continue;
  const bytes = readFileSync(join(assets, f));
  sizes[kind][0] += bytes.length;
  sizes[kind][1] += gzipSync(bytes, { level: 9 }).length;
}

const platform = await Platform.start();
const browser = await launchBrowser();
try {
  // What the server sends for the first page: index.html and what it loads, gzip accepted.
  const index = await (await fetch(`${platform.url}/`)).text();
  let firstPageJs = 0;
  for (const m of index.matchAll(/src="(\/assets\/[^"]+\.js)"/g)) {
    const r = await fetch(`${platform.url}${m[1]}`, { headers: { "Accept-Encoding": "gzip" } });
    firstPageJs += Number(r.headers.get("content-length"));
  }

  for (let i = 0; i < 1000; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, (_, k) => platform.api("POST", "/api/v1/models", { name: `bench-${String(i + k).padStart(4, "0")}`, tags: ["bench"] })),
    );
  }
  const page = await openPage(browser, platform);
  const loads = [];
  const draws = [];
  for (let run = 0; run < RUNS; run++) {
    await page.goto(`${platform.url}/#/`);
    await page.getByRole("heading", { name: "Home" }).waitFor();
    const t0 = Date.now();
    await page.getByRole("link", { name: "Models", exact: true }).click();
    await page.waitForFunction(() => document.querySelectorAll("tbody tr").length >= 1000, null, { polling: "raf" });
    loads.push(Date.now() - t0);
    draws.push(
      await page.evaluate(() => {
        const r = performance.getEntriesByType("resource").filter((e) => e.name.includes("/api/v1/models?")).pop();
        return performance.now() - r.responseEnd;
      }),
    );
  }

  // The deployment page with 20 requests/s: main-thread busy time over 10 s.
  const model = onnxModel(join(platform.dir, "m.onnx"));
  await platform.api("POST", "/api/v1/models", { name: "live" });
  await platform.api("POST", "/api/v1/models/live/versions?framework=onnx", readFileSync(model), undefined, { "Content-Type": "application/octet-stream" });
  await platform.api("POST", "/api/v1/deployments", { name: "live", model: "live", version: 1 });
  const X = { inputs: [{ name: "features", shape: [1, 4], datatype: "FP32", data: [1, 2, 3, 4] }] };
  const sender = setInterval(() => void platform.api("POST", "/v2/models/live/infer", X), 50);
  await page.goto(`${platform.url}/#/deployments/live`);
  await page.getByRole("heading", { name: "Live", exact: true }).waitFor();
  await new Promise((r) => setTimeout(r, 3000));
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Performance.enable");
  const busy = async () => (await cdp.send("Performance.getMetrics")).metrics.find((m) => m.name === "TaskDuration").value;
  const b0 = await busy();
  const w0 = Date.now();
  await new Promise((r) => setTimeout(r, 10000));
  const cpu = (await busy()) - b0;
  const wall = (Date.now() - w0) / 1000;
  clearInterval(sender);
  const points = Number(await page.locator(".chart").first().getAttribute("data-points"));

  const kb = (n) => (n / 1024).toFixed(1);
  console.log(`JavaScript: ${kb(sizes.js[0])} KiB, ${kb(sizes.js[1])} KiB gzip; CSS: ${kb(sizes.css[0])} KiB, ${kb(sizes.css[1])} KiB gzip`);
  console.log(`first page's JavaScript as served (gzip): ${kb(firstPageJs)} KiB (goal < 300 KB)`);
  console.log(`navigation to 1,000 models listed: median ${median(loads)} ms of ${RUNS} (${loads.join(", ")})`);
  console.log(`1,000 rows drawn after their data arrived: median ${median(draws).toFixed(1)} ms (goal < 200 ms) (${draws.map((d) => d.toFixed(0)).join(", ")})`);
  console.log(`deployment page, live charts at 1 Hz: main thread busy ${((cpu / wall) * 100).toFixed(1)}% of ${wall.toFixed(1)} s (goal < 10%), ${points} points drawn`);
  if (page.problems().length) console.log("browser problems:", page.problems());
} finally {
  await browser.close();
  await platform.stop();
}
