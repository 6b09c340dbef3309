// The customer-service pages in headless Chromium against a real aimass: a bot created from its
// JSON definition on the list page, trained from its page (a real pipeline run), its evaluation
// per intent as the API reports it, a booking form filled in the chat box, a new version saved
// from the definition editor, a conversation handed to a person who takes it in the agents'
// inbox, sees the customer's next message arrive live and answers, and the analytics' counts.
// Screenshots: console/test-output/.
import assert from "node:assert/strict";
import { test } from "node:test";
import { eventually, openPage, platformForTests } from "./harness.mjs";

const s = platformForTests();

const INTENTS = {
  greet: ["hi", "hello", "hey there", "good morning", "good evening", "hello bot", "hiya"],
  goodbye: ["bye", "goodbye", "see you later", "that's all, thanks", "bye bye", "have a nice day"],
  book_table: [
    "I'd like to book a table",
    "can I reserve a table for [friday](day)",
    "book a table for [4](people)",
    "a table for [two](people) on [saturday](day) please",
    "I want to make a reservation",
    "reserve a table",
    "do you have a table free on [monday](day)",
    "book me in for dinner",
    "table for [6](people)",
  ],
  inform: ["[tuesday](day)", "[friday](day) please", "for [5](people)", "[two](people) people", "on [sunday](day)", "make it [8](people)"],
  affirm: ["yes", "yes please", "correct", "that's right", "sure", "yep"],
  deny: ["no", "nope", "that's wrong", "not quite"],
  human_handoff: [
    "I want to talk to a person",
    "let me speak to a human",
    "can I talk to a real person",
    "connect me to an agent",
    "human please",
    "I need to speak with staff",
  ],
  out_of_scope: ["what's the capital of peru", "how tall is mount everest", "play some music", "what is two plus two", "tell me a joke", "who won the world cup"],
};

const DEFINITION = {
  language: "en",
  intents: Object.entries(INTENTS).map(([name, examples]) => ({ name, examples })),
  entities: [{ name: "day", lookup: ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] }, { name: "people" }],
  responses: { greet: "Hello! How can I help?", goodbye: "Goodbye!", fallback: "Sorry, I didn't get that." },
  forms: [
    {
      name: "booking",
      intent: "book_table",
      done: "Booked a table for {people} on {day}.",
      slots: [
        { name: "day", entity: "day", question: "Which day?" },
        { name: "people", entity: "people", question: "For how many people?" },
      ],
    },
  ],
  handoff: { intents: ["human_handoff"] },
};

const transcriptLines = (locator) => locator.locator(":scope > li").allTextContents();

test("create and train a bot, read its evaluation, chat through a form, save a new version", async () => {
  const page = await openPage(s.browser, s.platform);
  await page.goto(`${s.platform.url}/#/assist`);
  await page.getByRole("button", { name: "New bot" }).click();
  const form = page.getByRole("form", { name: "New bot" });
  await form.getByLabel("Name", { exact: true }).fill("diner");
  await form.getByLabel("Definition (JSON)").fill(JSON.stringify(DEFINITION, null, 2));
  await form.getByRole("button", { name: "Create" }).click();
  await page.getByRole("heading", { name: "Bot diner" }).waitFor();
  await page.getByTestId("bot-state").getByText("draft").waitFor();

  await page.getByRole("button", { name: "Train", exact: true }).click();
  await page.getByTestId("bot-state").getByText("trained", { exact: true }).waitFor({ timeout: 180000 });
  await page.getByTestId("bot-serving").getByText("1", { exact: true }).waitFor({ timeout: 30000 });

  // The evaluation as the API has it: one row per intent with its precision and recall.
  const bot = (await s.platform.api("GET", "/api/v1/assist/bots/diner")).body;
  const evaluation = page.getByRole("region", { name: "Evaluation" });
  await evaluation.getByText(`${(bot.evaluation.accuracy * 100).toFixed(1)}%`).first().waitFor();
  const perIntent = evaluation.getByRole("table").first();
  for (const i of bot.evaluation.intents) {
    const row = perIntent.getByRole("row", { name: new RegExp(`^${i.intent} `) });
    assert.deepEqual((await row.getByRole("cell").allTextContents()).slice(1, 3), [i.precision.toFixed(3), i.recall.toFixed(3)]);
  }
  assert.equal(await perIntent.locator("tbody tr").count(), Object.keys(INTENTS).length);
  await page.shot("assist-evaluation");

  // The chat box: a greeting, then the booking form asks for what is missing.
  await page.getByRole("tab", { name: "Chat" }).click();
  const chat = page.getByRole("list", { name: "Chat transcript" });
  const message = page.getByRole("textbox", { name: "Message" });
  await message.fill("hello");
  await page.getByRole("button", { name: "Send" }).click();
  await chat.getByText("Hello! How can I help?").waitFor();
  await message.fill("I'd like to book a table for friday");
  await page.getByRole("button", { name: "Send" }).click();
  await chat.getByText("For how many people?").waitFor();
  const state = await page.getByTestId("chat-state").textContent();
  assert.match(state, /form booking/);
  assert.match(state, /asking for people/);
  assert.match(state, /day=friday/);
  await message.fill("for 4");
  await page.getByRole("button", { name: "Send" }).click();
  await chat.getByText("Booked a table for 4 on friday.").waitFor();
  const lines = await transcriptLines(chat);
  assert.match(lines[0], /^You: hello \(greet \d+%\)/);
  assert.match(lines[2], /book_table \d+%, day=friday/);
  await page.shot("assist-chat");

  // The conversation is stored: its transcript on the Conversations tab.
  await page.getByRole("tab", { name: "Conversations" }).click();
  const conversations = (await s.platform.api("GET", "/api/v1/assist/bots/diner/conversations")).body.conversations;
  assert.equal(conversations.length, 1);
  await page.getByRole("button", { name: conversations[0].conversation_id }).click();
  const transcript = page.getByRole("list", { name: "Transcript" });
  await transcript.getByText("Booked a table for 4 on friday.").waitFor();
  assert.equal(await transcript.locator(":scope > li").count(), 6);

  // A new version from the editor: stored as a draft, the trained version still serving.
  await page.getByRole("tab", { name: "Definition" }).click();
  const editor = page.getByRole("form", { name: "Definition" });
  const changed = JSON.parse(await editor.getByLabel("Definition (JSON)").inputValue());
  assert.deepEqual(changed.intents.map((i) => i.name), Object.keys(INTENTS));
  changed.responses.greet = "Welcome to the diner!";
  await editor.getByLabel("Definition (JSON)").fill(JSON.stringify(changed, null, 2));
  await editor.getByRole("button", { name: "Save as a new version" }).click();
  await editor.getByText("Saved as version 2").waitFor();
  await page.getByRole("tab", { name: "Overview" }).click();
  await page.getByRole("button", { name: "Train version 2" }).waitFor();
  const versions = (await s.platform.api("GET", "/api/v1/assist/bots/diner/versions")).body.versions;
  assert.deepEqual(versions.map((v) => [v.version, v.state]).sort(), [[1, "trained"], [2, "draft"]]);
  assert.equal((await s.platform.api("GET", "/api/v1/assist/bots/diner/versions/2")).body.definition.responses.greet, "Welcome to the diner!");
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("an agent takes a handed-off conversation in the inbox, sees new messages live, answers and hands back", async () => {
  const password = "Agent-pass-1234";
  const created = await s.platform.api("POST", "/api/v1/users", { username: "ana", password, roles: ["developer"] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const say = async (conversation_id, text) => {
    const r = await s.platform.api("POST", "/api/v1/assist/bots/diner/messages", { conversation_id, text });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  const page = await openPage(s.browser, s.platform, { username: "ana", password });
  await page.goto(`${s.platform.url}/#/assist/inbox`);
  await page.getByRole("heading", { name: "Agents' inbox" }).waitFor();
  assert.equal(await page.getByTestId("inbox-waiting").textContent(), "0");

  await say("c-help", "hello");
  const handed = await say("c-help", "I want to talk to a person");
  assert.deepEqual(handed.handoff, { reason: "requested" });
  // The list follows the handoff events: no reload needed.
  await page.getByTestId("inbox-waiting").getByText("1", { exact: true }).waitFor({ timeout: 10000 });
  await page.getByRole("button", { name: "Take the next conversation" }).click();
  const open = page.getByRole("region", { name: "Open conversation" });
  await open.getByRole("heading", { name: "diner / c-help" }).waitFor();
  const transcript = open.getByRole("list", { name: "Transcript" });
  await transcript.getByText("I want to talk to a person").waitFor();

  // The customer writes again: the turn arrives over the conversation's events.
  await say("c-help", "my booking number is 4471");
  await transcript.getByText("my booking number is 4471").waitFor({ timeout: 10000 });
  await open.getByRole("textbox", { name: "Answer" }).fill("Thanks, I found your booking.");
  await open.getByRole("button", { name: "Send" }).click();
  await transcript.getByText("Thanks, I found your booking.").waitFor();
  const lines = await transcriptLines(transcript);
  assert.match(lines.at(-1), /Agent ana: Thanks, I found your booking\./);
  await page.shot("assist-inbox");

  await open.getByRole("button", { name: "Hand back to the bot" }).click();
  await page.getByText("Take a conversation to answer it.").waitFor();
  await eventually(async () => {
    const c = (await s.platform.api("GET", "/api/v1/assist/bots/diner/conversations/c-help")).body;
    return c.status === "bot" && c.turns.some((t) => t.role === "agent" && t.author === "ana" && t.text === "Thanks, I found your booking.");
  }, "the conversation back with the bot, the agent's answer stored");
  const back = await say("c-help", "hello");
  assert.deepEqual(back.replies.map((r) => r.text), ["Hello! How can I help?"]);
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});

test("analytics shows the bot's counts, intents and handoff reasons as the API computes them", async () => {
  const page = await openPage(s.browser, s.platform);
  await page.goto(`${s.platform.url}/#/assist/bots/diner`);
  await page.getByRole("tab", { name: "Analytics" }).click();
  const a = (await s.platform.api("GET", "/api/v1/assist/bots/diner/analytics")).body;
  assert.ok(a.messages >= 7, JSON.stringify(a));
  await page.getByTestId("analytics-messages").getByText(String(a.messages), { exact: true }).waitFor();
  assert.equal(await page.getByTestId("analytics-conversations").textContent(), String(a.conversations));
  const intents = page.getByRole("list", { name: "Intents" });
  for (const i of a.intents) {
    assert.equal(await intents.getByRole("listitem").filter({ hasText: i.intent }).locator(".histogram-count").textContent(), String(i.messages));
  }
  const reasons = page.getByRole("list", { name: "Handoff reasons" });
  await reasons.getByRole("listitem").filter({ hasText: "requested" }).waitFor();
  const points = Number(await page.locator(".chart").first().getAttribute("data-points"));
  assert.equal(points, 24, "a day in hourly intervals");
  await page.shot("assist-analytics");
  assert.deepEqual(page.problems(), []);
  await page.context().close();
});
