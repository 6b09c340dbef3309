// The language-model pages in headless Chromium against a real aimass serving a tiny Llama made
// by Debian's python3-torch (tests/e2e/llm_model.py: a SentencePiece tokenizer trained on the
// Debian FAQ, random weights), uploaded as a registry version of framework llm and deployed
// twice (chat-a, chat-b; /v1/models lists them in that order). The playground: chat-b picked,
// a system prompt, temperature 0 and 20 tokens at most; the streamed answer is the text of the
// same request made whole through the API, its finish_reason and usage shown; a second turn
// not streamed carries the conversation and equals the API's answer too; the curl block is
// that request (its JSON parsed), and Copy puts it on the clipboard; an API error (a context too
// long) shows as the API gave it and the question goes back to the input box. The deployment
// page shows the engine's live numbers (tokens/s above 0 while a client asks, time to first
// token, inter-token time, sequences, KV blocks as a meter) and *Open in playground* opens the
// playground with the deployment picked. Screenshots: console/test-output/.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { eventually, openPage, platformForTests, root } from "./harness.mjs";

const s = platformForTests();
const SYSTEM = "You answer questions about Debian.";
const FIRST = "How do I upgrade Debian?";
const SECOND = "And where are the mirrors?";

async function call(method, path, body, status = 200, headers = {}) {
  const r = await s.platform.api(method, path, body, undefined, headers);
  assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
  return r.body;
}

// The model's files as a tar, made by Debian's python with tests/e2e on its path.
let work;
let tar;
before(() => {
  work = mkdtempSync(join(tmpdir(), "aimass-llm-console-"));
  const script = [
    "import sys, pathlib",
    `sys.path.insert(0, ${JSON.stringify(join(root, "tests/e2e"))})`,
    "import llm_model, sentencepiece",
    "d = pathlib.Path(sys.argv[1])",
    "tok = llm_model.train_tokenizer(d / 'tok')",
    "cfg = llm_model.make_config(sentencepiece.SentencePieceProcessor(model_file=str(tok)).get_piece_size())",
    "w = llm_model.random_weights(cfg, seed=1)",
    "(d / 'model.tar').write_bytes(llm_model.tar_of(llm_model.model_files(cfg, w, tok)))",
  ].join("\n");
  execFileSync("/usr/bin/python3", ["-c", script, work], { stdio: ["ignore", "ignore", "inherit"] });
  tar = readFileSync(join(work, "model.tar"));
});
after(() => work && rmSync(work, { recursive: true, force: true }));

// The model uploaded and deployed twice, both loaded (listed by /v1/models).
let ready;
function deployed() {
  ready ??= (async () => {
    await call("POST", "/api/v1/models", { name: "tiny-llama" }, 201);
    const v = await call("POST", "/api/v1/models/tiny-llama/versions?framework=llm", tar, 201, { "Content-Type": "application/x-tar" });
    assert.equal(v.status, "ready", JSON.stringify(v));
    for (const name of ["chat-a", "chat-b"]) {
      await call("POST", "/api/v1/deployments", { name, model: "tiny-llama", version: 1, timeout_ms: 60000, llm: { kv_cache_mb: 8 } }, 201);
    }
    await eventually(async () => {
      const ids = (await call("GET", "/v1/models")).data.map((m) => m.id);
      return ids.includes("chat-a") && ids.includes("chat-b");
    }, "both deployments listed by /v1/models", 60000);
  })();
  return ready;
}

// The last assistant answer once it has ended: its text, finish reason and usage line.
async function lastAnswer(page, n) {
  const answers = page.locator('[data-testid="playground-message"][data-role="assistant"]');
  await eventually(async () => (await answers.count()) === n && (await answers.nth(n - 1).getAttribute("data-state")) === "done", `answer ${n} to end`, 30000);
  const a = answers.nth(n - 1);
  await a.getByTestId("message-finish").waitFor();
  return {
    text: await a.getByTestId("message-content").textContent(),
    finish: (await a.getByTestId("message-finish").textContent()).replace("finish_reason: ", ""),
    usage: await a.getByTestId("message-usage").textContent(),
    errors: await a.getByTestId("message-error").count(),
  };
}

// The JSON of the curl block's -d '…' (single quotes written as '\'').
function curlJson(curl) {
  const m = curl.match(/-d '([\s\S]*)'\s*$/);
  assert.ok(m, `a -d '…' body in ${curl}`);
  return JSON.parse(m[1].replaceAll(`'\\''`, "'"));
}

const usageLine = (u) => `${u.prompt_tokens} prompt + ${u.completion_tokens} completion = ${u.total_tokens} tokens`;
const expected400 = (p) => !/HTTP 400: POST .*\/v1\/chat\/completions$/.test(p) && !/status of 400/.test(p);

test("the playground streams the answer the API gives, carries the conversation, shows the request as curl and errors", async () => {
  await deployed();
  const page = await openPage(s.browser, s.platform);
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: s.platform.url });
  await page.getByRole("link", { name: "Playground", exact: true }).click();
  await page.getByRole("heading", { name: "Playground", exact: true }).waitFor();
  const select = page.getByTestId("playground-model");
  await eventually(async () => (await select.inputValue()) === "chat-a", "the first deployment picked");
  assert.deepEqual(await select.locator("option").allTextContents(), ["chat-a", "chat-b"]);
  await select.selectOption("chat-b");
  assert.match(page.url(), /#\/playground\?model=chat-b$/);

  await page.getByTestId("playground-system").fill(SYSTEM);
  await page.getByTestId("option-temperature").fill("0");
  await page.getByTestId("option-max_tokens").fill("20");
  assert.equal(await page.getByTestId("playground-stream").isChecked(), true);
  await page.getByTestId("playground-input").fill(FIRST);
  // Before sending, the curl block is what Send will send.
  assert.equal(curlJson(await page.getByTestId("playground-curl").textContent()).messages.at(-1).content, FIRST);
  const chat = (r) => r.url().endsWith("/v1/chat/completions") && r.request().method() === "POST";
  const [streamed] = await Promise.all([page.waitForResponse(chat), page.getByTestId("playground-send").click()]);
  assert.match(streamed.headers()["content-type"], /^text\/event-stream/);
  assert.equal(JSON.parse(streamed.request().postData()).stream, true);
  const first = await lastAnswer(page, 1);

  // The same request whole, through the API: temperature 0 is greedy, so the same text.
  const turn1 = { model: "chat-b", messages: [{ role: "system", content: SYSTEM }, { role: "user", content: FIRST }], temperature: 0, max_tokens: 20 };
  const whole = await call("POST", "/v1/chat/completions", turn1);
  const want1 = whole.choices[0].message.content;
  assert.ok(first.text !== "" || first.finish !== "", "an answer, or at least how it ended");
  assert.equal(first.text, want1, "the streamed text is the API's whole answer");
  assert.equal(first.finish, whole.choices[0].finish_reason);
  assert.equal(first.usage, usageLine(whole.usage));
  assert.equal(first.errors, 0);
  assert.equal(await page.getByTestId("playground-input").inputValue(), "", "the input box emptied");

  // The curl block: the request just sent, streamed.
  const curl = await page.getByTestId("playground-curl").textContent();
  assert.ok(curl.includes("/v1/chat/completions"), curl);
  assert.ok(curl.includes("chat-b"), curl);
  assert.ok(curl.includes("$AIMASS") && curl.includes("Authorization: Bearer $TOKEN"), curl);
  assert.deepEqual(curlJson(curl), { ...turn1, stream: true, stream_options: { include_usage: true } });
  await page.getByTestId("playground-copy").click();
  await page.getByTestId("playground-copied").getByText("Copied").waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), curl);
  await page.shot("playground-streamed");

  // A second turn, not streamed: the conversation so far goes with it.
  await page.getByTestId("playground-stream").uncheck();
  await page.getByTestId("playground-input").fill(SECOND);
  const [plain] = await Promise.all([page.waitForResponse(chat), page.getByTestId("playground-send").click()]);
  assert.match(plain.headers()["content-type"], /^application\/json/);
  const second = await lastAnswer(page, 2);
  const turn2 = {
    ...turn1,
    messages: [...turn1.messages, ...(want1 ? [{ role: "assistant", content: want1 }] : []), { role: "user", content: SECOND }],
  };
  const whole2 = await call("POST", "/v1/chat/completions", turn2);
  assert.equal(second.text, whole2.choices[0].message.content);
  assert.equal(second.finish, whole2.choices[0].finish_reason);
  assert.equal(second.usage, usageLine(whole2.usage));
  assert.deepEqual(curlJson(await page.getByTestId("playground-curl").textContent()), turn2);
  assert.equal(await page.getByTestId("playground-message").count(), 4);

  // An API error shows as the API gave it; the question goes back into the box, unanswered.
  await page.getByTestId("option-max_tokens").fill("1000");
  await page.getByTestId("playground-input").fill("One more?");
  await page.getByTestId("playground-send").click();
  const error = page.getByTestId("playground-error");
  await error.waitFor();
  const shown = await error.textContent();
  assert.match(shown, /^This model's maximum context length is 256 tokens\. .*\(invalid_request_error.*HTTP 400\)$/);
  assert.equal(await page.getByTestId("playground-input").inputValue(), "One more?");
  assert.equal(await page.getByTestId("playground-message").count(), 4);
  await page.shot("playground-error");

  // A number that is none is refused before anything is sent.
  await page.getByTestId("option-temperature").fill("warm");
  await page.getByRole("alert").getByText("Temperature must be a number").waitFor();

  // Clear empties the conversation.
  await page.getByTestId("playground-clear").click();
  assert.equal(await page.getByTestId("playground-message").count(), 0);
  assert.deepEqual(page.problems().filter(expected400), []);
  await page.close();
});

test("the deployment page shows the engine's live numbers and opens the playground with it picked", async () => {
  await deployed();
  const page = await openPage(s.browser, s.platform);
  await page.goto(`${s.platform.url}/#/deployments/chat-b`);
  const panel = page.getByTestId("llm-metrics");
  await panel.waitFor({ timeout: 15000 });
  await panel.getByRole("heading", { name: "Language model" }).waitFor();

  // A client asking keeps tokens flowing within the window of 10 s.
  const body = { model: "chat-b", messages: [{ role: "user", content: "Tell me about apt." }], temperature: 0, max_tokens: 20, ignore_eos: true };
  const tokensPerS = async () => Number((await panel.getByTestId("llm-tokens-per-s").textContent()).replace(/[^\d.]/g, ""));
  await eventually(
    async () => {
      await call("POST", "/v1/chat/completions", body);
      return (await tokensPerS()) > 0;
    },
    "tokens/s above 0",
    30000,
  );
  const m = (await call("GET", "/api/v1/deployments/chat-b/metrics?window_s=10")).versions[0].llm;
  assert.ok(m.generated_tokens >= 20 && m.kv_blocks_total > 0, JSON.stringify(m));
  assert.match(await panel.getByTestId("llm-ttft").textContent(), /^[\d.]+ \/ [\d.]+ ms$/);
  assert.match(await panel.getByTestId("llm-itl").textContent(), /^[\d.]+ \/ [\d.]+ ms$/);
  assert.match(await panel.getByTestId("llm-seqs").textContent(), /^\d+ \/ \d+$/);
  const generated = Number((await panel.getByTestId("llm-tokens").textContent()).split("/")[1].replace(/\D/g, ""));
  assert.ok(generated >= 20, `generated tokens shown: ${generated}`);
  const meter = panel.getByRole("meter", { name: "KV cache blocks of version 1" });
  assert.equal(await meter.getAttribute("aria-valuemax"), String(m.kv_blocks_total));
  assert.match(await panel.getByTestId("llm-kv").textContent(), new RegExp(`^\\d+ / ${m.kv_blocks_total} used$`));
  // The tokens/s chart beside the request charts.
  await page.getByText("Tokens per second (last 10 s)").waitFor();
  await page.shot("deployment-llm");

  await panel.getByRole("link", { name: "Open in playground" }).click();
  await page.getByRole("heading", { name: "Playground", exact: true }).waitFor();
  assert.match(page.url(), /#\/playground\?model=chat-b$/);
  const select = page.getByTestId("playground-model");
  await eventually(async () => (await select.locator("option").count()) === 2, "the deployments listed");
  assert.equal(await select.inputValue(), "chat-b");
  assert.deepEqual(page.problems(), []);
  await page.close();
});
