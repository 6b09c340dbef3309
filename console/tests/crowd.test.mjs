// The crowd pages in headless Chromium against a real aimass reading a real video: Debian's
// opencv-doc vtest.avi (768×576, 10 frames/s, pedestrians), allowed by crowd.video_dirs. A
// stream started from the form (realtime, HOG every 3rd frame) runs as a cluster job; its page
// shows it running with its frames growing and the live view's annotated JPEGs; a counting line
// and a zone drawn with clicks on the frame land in the API at the pixels meant; the totals
// table agrees with GET …/counts (once paused, when they stand still), the heatmap, charts and
// tracks show; pause and resume; a zone deleted from its row, the stream from its page. An API
// error (a file outside the allowed directories) shows as the server gave it. Screenshots:
// console/test-output/.
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, openPage, platformForTests } from "./harness.mjs";

const DATA = "/usr/share/doc/opencv-doc/examples/data";
const VIDEO = `${DATA}/vtest.avi`;
const s = platformForTests({ env: { AIMASS_CROWD_VIDEO_DIRS: DATA, AIMASS_CROWD_EXPORT_S: "1" } });
const API = "/api/v1/crowd/streams";

async function call(method, path, body, status = 200) {
  const r = await s.platform.api(method, path, body);
  assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
  return r.body;
}

const near = (got, want) => got.every((p, i) => Math.abs(p[0] - want[i][0]) <= 3 && Math.abs(p[1] - want[i][1]) <= 3);

test("an API error shows on the streams page as the server gave it", async () => {
  const page = await openPage(s.browser, s.platform);
  await page.getByRole("link", { name: "Crowd", exact: true }).click();
  await page.getByRole("heading", { name: "Crowd", exact: true }).waitFor();
  await page.getByText("No streams").waitFor();
  await page.getByRole("button", { name: "New stream" }).click();
  await page.getByLabel("Name").fill("outside");
  await page.getByLabel(/^URL/).fill("/etc/passwd");
  await page.getByRole("button", { name: "Start" }).click();
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.equal(await alert.textContent(), "stream.url '/etc/passwd' is not a video file under the directories crowd.video_dirs allows");
  assert.equal((await s.platform.api("GET", `${API}/outside`)).status, 404);
  await page.shot("crowd-error");
  const problems = page.problems().filter((p) => !/HTTP 400: POST .*\/crowd\/streams$/.test(p) && !/status of 400/.test(p));
  assert.deepEqual(problems, []);
  await page.close();
});

test("a stream: live view, lines and zones drawn on the frame, counts, pause and resume", async () => {
  const page = await openPage(s.browser, s.platform, { viewport: { width: 1366, height: 1000 } });
  await page.goto(`${s.platform.url}/#/crowd`);
  await page.getByRole("button", { name: "New stream" }).click();
  await page.getByLabel("Name").fill("street");
  await page.getByLabel(/^URL/).fill(VIDEO);
  await page.getByLabel("Detect every n-th frame").fill("3");
  await page.getByLabel(/^Realtime/).check();
  await page.getByRole("button", { name: "Start" }).click();
  await page.getByRole("heading", { name: "Crowd stream street" }).waitFor();
  const created = await call("GET", `${API}/street`);
  assert.equal(created.url, VIDEO);
  assert.equal(created.realtime, true);
  assert.equal(created.detector.every, 3);

  // Running, its frames growing; the live view's JPEGs arrive (the worker sends them once it
  // learns that someone watches).
  const state = page.getByTestId("crowd-state");
  await state.getByText("running", { exact: true }).waitFor({ timeout: 30000 });
  const frames = async () => Number((await page.getByTestId("crowd-frames").textContent()).replace(/\D/g, ""));
  const first = await frames();
  await eventually(async () => (await frames()) > first, "the frames to grow");
  await page.waitForFunction(() => document.querySelector('img[data-source="live"]')?.naturalWidth === 768, null, { timeout: 15000 });
  assert.match(await page.getByTestId("crowd-view-state").textContent(), /^Live: frame \d+/);

  // A line from (530, 430) up to (530, 150), by two clicks at the screen points of those pixels.
  const overlay = page.locator("svg.crowd-overlay");
  assert.equal(await overlay.getAttribute("viewBox"), "0 0 768 576");
  const box = await overlay.boundingBox();
  const k = box.width / 768;
  assert.ok(Math.abs(box.height / k - 576) < 1, "the overlay keeps the video's aspect");
  const at = ([x, y]) => ({ position: { x: x * k, y: y * k } });
  await page.getByRole("button", { name: "Draw line" }).click();
  await overlay.click(at([530, 430]));
  await overlay.click(at([530, 150]));
  await page.getByLabel("Line name").fill("door");
  await page.getByRole("button", { name: "Save line" }).click();
  await overlay.locator('g[data-line="door"]').waitFor();
  const LINE = [
    [530, 430],
    [530, 150],
  ];
  let stream = await call("GET", `${API}/street`);
  assert.equal(stream.lines.length, 1);
  assert.equal(stream.lines[0].name, "door");
  assert.ok(near(stream.lines[0].points, LINE), JSON.stringify(stream.lines[0].points));

  // A zone by four clicks, the last a double click that finishes it.
  const ZONE = [
    [150, 250],
    [450, 250],
    [450, 500],
    [150, 500],
  ];
  await page.getByRole("button", { name: "Draw zone" }).click();
  for (const p of ZONE.slice(0, 3)) await overlay.click(at(p));
  await overlay.dblclick(at(ZONE[3]));
  await page.getByLabel("Zone name").fill("plaza");
  await page.getByLabel(/^Max occupancy/).fill("2");
  await page.getByLabel(/^Loiter seconds/).fill("4");
  await page.getByRole("button", { name: "Save zone" }).click();
  await overlay.locator('g[data-zone="plaza"]').waitFor();
  stream = await call("GET", `${API}/street`);
  assert.equal(stream.zones.length, 1);
  assert.equal(stream.zones[0].points.length, 4);
  assert.ok(near(stream.zones[0].points, ZONE), JSON.stringify(stream.zones[0].points));
  assert.equal(stream.zones[0].max_occupancy, 2);
  assert.equal(stream.zones[0].loiter_s, 4);
  const polygon = await overlay.locator('g[data-zone="plaza"] polygon').getAttribute("points");
  assert.equal(polygon.split(" ").length, 4);
  assert.equal(await overlay.locator('g[data-line="door"] line').first().getAttribute("x1"), String(stream.lines[0].points[0][0]));
  // Going up the screen, "in" is the crossing to the right: the in-arrow points to +x.
  const inArrow = overlay.locator('g[data-line="door"] line.crowd-in');
  assert.ok(Number(await inArrow.getAttribute("x2")) > Number(await inArrow.getAttribute("x1")));
  assert.equal(await inArrow.getAttribute("y2"), await inArrow.getAttribute("y1"));
  await page.getByRole("region", { name: "Lines" }).getByRole("cell", { name: "door", exact: true }).waitFor();
  await page.getByRole("region", { name: "Zones" }).getByRole("cell", { name: "plaza", exact: true }).waitFor();

  // Let the worker take the new figures in and count for a while, then pause.
  await eventually(async () => {
    const c = await call("GET", `${API}/street/counts`);
    return c.zones.plaza?.max > 0 && c.lines.door.in + c.lines.door.out > 0;
  }, "people counted in the zone and across the line", 45000);
  await page.shot("crowd-stream-live");
  await page.getByRole("button", { name: "Pause" }).click();
  await state.getByText("paused", { exact: true }).waitFor();
  await page.getByRole("button", { name: "Resume" }).waitFor();
  assert.equal((await call("GET", `${API}/street`)).state, "paused");

  // The totals on the page are the API's (checked until both stand still after the pause).
  const lines = page.getByRole("region", { name: "Lines" });
  const zones = page.getByRole("region", { name: "Zones" });
  const cells = async (region, name) => (await region.getByRole("row", { name: new RegExp(`^${name} `) }).locator("td").allTextContents());
  let counts;
  await eventually(async () => {
    counts = await call("GET", `${API}/street/counts`);
    const l = await cells(lines, "door");
    const z = await cells(zones, "plaza");
    const people = await page.getByTestId("crowd-people").textContent();
    const c = counts.lines.door;
    const p = counts.zones.plaza;
    return (
      l[2] === String(c.in) &&
      l[3] === String(c.out) &&
      z[4] === String(p.max) &&
      z[5] === String(p.avg) &&
      z[6] === String(p.visits) &&
      z[7] === String(p.dwell_avg_s) &&
      z[8] === String(p.dwell_max_s) &&
      people === `People in view: at most ${counts.people.max}, on average ${counts.people.avg}.`
    );
  }, "the totals table to show GET …/counts");
  assert.ok(counts.intervals.length > 0);
  assert.ok(counts.people.max > 0);
  // The overlay's line label carries the same counts.
  assert.equal(
    await overlay.locator('g[data-line="door"] text').last().textContent(),
    `door: in ${counts.lines.door.in} · out ${counts.lines.door.out}`,
  );

  // Charts (crossings, occupancy, people), the heatmap, tracks.
  await page.locator(".charts .chart").nth(2).waitFor();
  assert.equal(await page.locator(".charts .chart").count(), 3);
  assert.ok(Number(await page.locator(".charts .chart").first().getAttribute("data-points")) > 0);
  await page.waitForFunction(() => document.querySelector('img[alt="Heatmap"]')?.naturalWidth === 768, null, { timeout: 20000 });
  // The worker reports the tracks it followed as it stops: compare with the API's list then.
  await eventually(async () => {
    const tracks = (await call("GET", `${API}/street/tracks?path=false`)).tracks;
    return tracks.length > 0 && (await page.getByRole("region", { name: "Tracks" }).locator("tbody tr").count()) === Math.min(100, tracks.length);
  }, "the tracks table", 25000);
  await page.shot("crowd-stream-paused");

  // Resume: running again, frames growing past where it paused.
  const paused = (await call("GET", `${API}/street`)).frames;
  await page.getByRole("button", { name: "Resume" }).click();
  await page.getByRole("button", { name: "Pause" }).waitFor();
  await state.getByText("running", { exact: true }).waitFor({ timeout: 30000 });
  await eventually(async () => (await frames()) > paused, "the frames to grow after the resume", 20000);

  // A zone deleted from its row.
  await zones.getByRole("button", { name: "Delete zone plaza" }).click();
  await overlay.locator('g[data-zone="plaza"]').waitFor({ state: "detached" });
  assert.deepEqual((await call("GET", `${API}/street`)).zones, []);

  // The list shows it; then delete it from its page.
  await page.getByRole("link", { name: "Crowd", exact: true }).click();
  const row = page.getByRole("row", { name: /^street / });
  await row.getByText("running").waitFor();
  assert.match(await row.textContent(), /vtest\.avi/);
  await row.getByRole("link", { name: "street" }).click();
  await page.getByRole("heading", { name: "Crowd stream street" }).waitFor();
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Delete", exact: true }).click();
  await page.getByRole("heading", { name: "Crowd", exact: true }).waitFor();
  assert.equal((await s.platform.api("GET", `${API}/street`)).status, 404);
  assert.deepEqual(page.problems(), []);
  await page.close();
});
