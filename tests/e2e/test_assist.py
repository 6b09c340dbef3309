"""The assist module, black-box: a bot defined through the API from CLINC150's labelled examples,
trained as a pipeline on the cluster and measured on the test split it never saw against a
TF-IDF + logistic regression baseline computed here; a restaurant bot's conversations (forms,
corrections, confirmation, Debian FAQ answers with their source, fallbacks, handoff to an agent
and back), durable across a restart and expiring when idle; versions and rollback; analytics;
spoken messages (made with espeak-ng) heard, answered and spoken back; bad input."""
from __future__ import annotations

import json
import re
import time

import pytest

from conftest import assert_error, unique, wait_for
from datasets_helpers import shared_data
from search_helpers import debian_faq


def wait_trained(a, bot: str, timeout: float = 600) -> dict:
    """Until the latest version is trained and served (or failed)."""
    def done():
        b = a.get(f"/api/v1/assist/bots/{bot}").json()
        if b["state"] == "failed" or (b["state"] == "trained" and b["serving_version"] == b["trained_version"]):
            return b
        return None
    b = wait_for(done, timeout, f"bot {bot} trained")
    assert b["state"] == "trained", json.dumps(b)[:3000]
    return b


def train(a, bot: str, **body) -> dict:
    resp = a.post(f"/api/v1/assist/bots/{bot}/train", json=body)
    assert resp.status_code == 202, resp.text
    assert resp.json()["state"] == "training"
    return wait_trained(a, bot)


def say(a, bot: str, conversation: str, text: str) -> dict:
    resp = a.post(f"/api/v1/assist/bots/{bot}/messages", json={"conversation_id": conversation, "text": text})
    assert resp.status_code == 200, resp.text
    return resp.json()


def replies(answer: dict) -> list[str]:
    return [r["text"] for r in answer["replies"]]


def clinc() -> dict:
    with open(shared_data("clinc150/data_full.json"), encoding="utf-8") as f:
        return json.load(f)


def word_grams(t: str) -> list[str]:
    w = re.findall(r"[a-z0-9']+", t.lower())
    return w + [a + " " + b for a, b in zip(w, w[1:])]


def tfidf_logistic_baseline(train_texts, train_labels, texts, grams=word_grams):
    """The usual baseline, written out here: TF-IDF over `grams` (word unigrams and bigrams by
    default; sublinear tf, smoothed idf, unit length) and a multinomial logistic regression
    (torch, L-BFGS, L2) with out-of-scope as one more class. Returns the predicted labels of
    `texts`."""
    import math
    from collections import Counter

    import torch

    docs = [Counter(grams(t)) for t in train_texts]
    df = Counter(g for d in docs for g in d)
    vocab = {g: i for i, g in enumerate(df)}
    n = len(docs)
    idf = {g: math.log((1 + n) / (1 + c)) + 1 for g, c in df.items()}

    def matrix(counters):
        rows, cols, vals = [], [], []
        for r, c in enumerate(counters):
            ws = {vocab[g]: (1 + math.log(k)) * idf[g] for g, k in c.items() if g in vocab}
            norm = math.sqrt(sum(v * v for v in ws.values())) or 1.0
            for j, v in ws.items():
                rows.append(r)
                cols.append(j)
                vals.append(v / norm)
        return torch.sparse_coo_tensor([rows, cols], vals, (len(counters), len(vocab))).coalesce()
    classes = sorted(set(train_labels))
    y = torch.tensor([classes.index(l) for l in train_labels])
    x = matrix(docs)
    torch.manual_seed(0)
    w = torch.zeros(len(vocab), len(classes), requires_grad=True)
    b = torch.zeros(len(classes), requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(torch.sparse.mm(x, w) + b, y) + 1e-5 * (w * w).sum()
        loss.backward()
        return loss
    opt.step(closure)
    with torch.no_grad():
        out = torch.sparse.mm(matrix([Counter(grams(t)) for t in texts]), w) + b
    return [classes[i] for i in out.argmax(1).tolist()]


def test_clinc150_intents_and_out_of_scope_beat_a_linear_baseline(server):
    """Trained on train+val (out-of-scope examples as the out_of_scope intent), measured on the
    test split: in-scope accuracy and out-of-scope recall, against a TF-IDF + logistic
    regression baseline computed here on the same examples."""
    a = server.admin
    data = clinc()
    examples = {}
    for part in ("train", "val", "oos_train", "oos_val"):
        for text, intent in data[part]:
            examples.setdefault("out_of_scope" if intent == "oos" else intent, []).append(text)
    bot = unique("clinc").replace(".", "-").lower()
    resp = a.post("/api/v1/assist/bots", json={"name": bot, "language": "en",
                                                "intents": [{"name": k, "examples": v} for k, v in examples.items()]})
    assert resp.status_code == 201, resp.text
    assert resp.json()["state"] == "draft"
    b = train(a, bot)
    ev = b["evaluation"]
    assert {k["kind"] for k in ev["kinds"]} == {"linear", "fasttext", "ensemble"}
    assert ev["kind"] == max(ev["kinds"], key=lambda k: k["accuracy"])["kind"]
    assert ev["held_out"] > 2000 and len(ev["intents"]) == 151
    assert ev["confusions"] and all(c["intent"] != c["predicted"] for c in ev["confusions"])

    test = data["test"] + data["oos_test"]
    texts = [t for t, _ in test]
    resp = a.post(f"/api/v1/assist/bots/{bot}/predict", json={"texts": texts})
    assert resp.status_code == 200, resp.text
    got = [p["intent"] for p in resp.json()["predictions"]]
    assert len(got) == len(texts)
    in_scope = [(g, i) for g, (_, i) in zip(got, test) if i != "oos"]
    oos = [g for g, (_, i) in zip(got, test) if i == "oos"]
    accuracy = sum(g == i for g, i in in_scope) / len(in_scope)
    recall = sum(g == "out_of_scope" for g in oos) / len(oos)

    train_texts = [t for k, v in examples.items() for t in v]
    train_labels = [k for k, v in examples.items() for _ in v]
    base = tfidf_logistic_baseline(train_texts, train_labels, texts)
    base_accuracy = sum(p == i for p, (_, i) in zip(base, test) if i != "oos") / len(in_scope)
    base_recall = sum(p == "out_of_scope" for p, (_, i) in zip(base, test) if i == "oos") / len(oos)
    print(f"assist in-scope {accuracy:.4f} oos recall {recall:.4f}; baseline {base_accuracy:.4f} / {base_recall:.4f}")
    assert accuracy >= base_accuracy, (accuracy, base_accuracy)
    assert recall >= base_recall + 0.15, (recall, base_recall)

    # One prediction in detail: a ranking of probabilities, best first.
    p = a.post(f"/api/v1/assist/bots/{bot}/predict", json={"texts": ["what's my checking account balance"]}).json()
    top = p["predictions"][0]
    assert top["intent"] == "balance" and top["ranking"][0]["name"] == "balance"
    assert all(x["confidence"] >= y["confidence"] for x, y in zip(top["ranking"], top["ranking"][1:]))


DINER_INTENTS = {
    "greet": ["hi", "hello", "hey there", "good morning", "good evening", "hello bot", "hiya"],
    "goodbye": ["bye", "goodbye", "see you later", "that's all, thanks", "bye bye", "have a nice day"],
    "book_table": ["I'd like to book a table", "can I reserve a table for [friday](day)", "book a table for [4](people)",
                   "a table for [two](people) on [saturday](day) please", "I want to make a reservation",
                   "reserve a table", "do you have a table free on [monday](day)", "book me in for dinner",
                   "table for [6](people)", "I need a reservation for [3](people) people"],
    "inform": ["[tuesday](day)", "[friday](day) please", "for [5](people)", "[two](people) people", "on [sunday](day)",
               "[wednesday](day) works", "make it [8](people)", "[thursday](day)", "just [1](people)"],
    "affirm": ["yes", "yes please", "correct", "that's right", "sure", "yep"],
    "deny": ["no", "nope", "that's wrong", "not quite"],
    "cancel": ["cancel", "stop", "forget it", "never mind", "cancel that please"],
    "human_handoff": ["I want to talk to a person", "let me speak to a human", "can I talk to a real person",
                      "connect me to an agent", "human please", "I need to speak with staff"],
    "complaint": ["the food was cold", "I want to complain", "the service was terrible", "my order was wrong",
                  "this is unacceptable"],
    "faq": ["how do I install debian", "where can I get debian", "what is debian", "how do I upgrade my debian system",
            "how can I keep my debian system current", "what is a debian package"],
    "out_of_scope": ["what's the capital of peru", "how tall is mount everest", "play some music", "what is two plus two",
                     "tell me a joke", "who won the world cup", "what's the weather like", "translate hello to french"],
}


def diner_bot(name: str, faq_index: str, ttl_s: int = 1800) -> dict:
    return {
        "name": name, "language": "en",
        "intents": [{"name": k, "examples": v} for k, v in DINER_INTENTS.items()],
        "entities": [{"name": "day", "lookup": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]},
                     {"name": "people"}],
        "responses": {"greet": ["Hello! How can I help?"], "goodbye": "Goodbye!", "fallback": "Sorry, I didn't get that."},
        "forms": [{"name": "booking", "intent": "book_table", "confirm": True,
                   "done": "Booked a table for {people} on {day}.",
                   "slots": [{"name": "day", "entity": "day", "question": "Which day?"},
                             {"name": "people", "entity": "people", "question": "For how many people?"}]}],
        "faq": {"index": faq_index, "question": "title", "answer": "body"},
        "fallback": {"handoff_after": 2},
        "handoff": {"rules": [{"intent": "complaint", "reason": "complaint"}]},
        "conversation": {"ttl_s": ttl_s},
        "training": {"holdout": 0.1},
    }


@pytest.fixture(scope="module")
def diner(server):
    a = server.admin
    index = unique("faq").replace(".", "-").lower()
    resp = a.post("/api/v1/search/indexes", json={"name": index, "fields": {"title": {"type": "text", "weight": 3},
                                                                           "body": {"type": "text"}}})
    assert resp.status_code == 201, resp.text
    docs = debian_faq("en")
    assert a.post(f"/api/v1/search/indexes/{index}/documents", json=docs).status_code == 200
    bot = unique("diner").replace(".", "-").lower()
    resp = a.post("/api/v1/assist/bots", json=diner_bot(bot, index))
    assert resp.status_code == 201, resp.text
    train(a, bot)
    return bot, index


def test_a_booking_form_with_a_correction_and_confirmation(server, diner):
    a, (bot, _) = server.admin, diner
    c = unique("c").replace(".", "-").lower()
    first = say(a, bot, c, "hello")
    assert first["intent"]["name"] == "greet" and replies(first) == ["Hello! How can I help?"]
    r = say(a, bot, c, "I'd like to book a table for friday")
    assert r["intent"]["name"] == "book_table"
    assert {"entity": "day", "value": "friday"}.items() <= r["entities"][0].items()
    assert r["slots"] == {"day": "friday"} and replies(r) == ["For how many people?"]
    r = say(a, bot, c, "for 4")
    assert r["slots"] == {"day": "friday", "people": "4"}, r
    assert r["state"]["confirming"] and "day: friday" in replies(r)[0]
    r = say(a, bot, c, "no, tuesday")
    assert replies(r)[0] == "Changed day to tuesday." and r["slots"]["day"] == "tuesday"
    r = say(a, bot, c, "yes")
    assert replies(r) == ["Booked a table for 4 on tuesday."] and r["submitted"] == "booking"
    assert r["state"]["form"] is None
    conv = a.get(f"/api/v1/assist/bots/{bot}/conversations/{c}").json()
    assert [t["role"] for t in conv["turns"]][:4] == ["user", "bot", "user", "bot"]
    assert len([t for t in conv["turns"] if t["role"] == "user"]) == 5


def test_faq_answers_come_from_the_search_index_with_their_source(server, diner):
    a, (bot, index) = server.admin, diner
    c = unique("c").replace(".", "-").lower()
    r = say(a, bot, c, "How can I keep my Debian system current?")
    assert r["replies"], r
    src = r["replies"][0]["source"]
    assert src["index"] == index and src["id"] == "9.1", src
    assert "current" in src["question"]
    # Out of scope and no FAQ entry covers it: the fallback, not a random FAQ answer.
    r = say(a, bot, c, "what's the capital of peru")
    assert r["intent"]["name"] == "out_of_scope" and r.get("fallback") and replies(r) == ["Sorry, I didn't get that."]


def test_two_fallbacks_hand_off_to_an_agent_who_answers_and_hands_back(server, diner):
    a, (bot, _) = server.admin, diner
    agent = server.create_user(roles=["developer"], prefix="agent")
    c = unique("c").replace(".", "-").lower()
    say(a, bot, c, "tell me a joke")
    r = say(a, bot, c, "who won the world cup")
    assert r["handoff"] == {"reason": "fallback"} and r["state"]["status"] == "handoff"
    waiting = a.get("/api/v1/assist/handoffs", params={"bot": bot, "state": "waiting"}).json()["handoffs"]
    assert [h["conversation_id"] for h in waiting] == [c]
    assert [t["text"] for t in waiting[0]["history"] if t["role"] == "user"] == ["tell me a joke", "who won the world cup"]
    # The agent takes the next conversation from the queue.
    taken = agent.client.post("/api/v1/assist/handoffs/next", json={"bot": bot})
    assert taken.status_code == 200, taken.text
    assert taken.json()["conversation_id"] == c and taken.json()["agent"] == agent.username
    assert_error(agent.client.post("/api/v1/assist/handoffs/next", json={"bot": bot}), 404, "not_found")
    # While a person has it, the bot stays quiet and the agent's answer reaches the customer.
    r = say(a, bot, c, "hello?")
    assert r["replies"] == [] and r["handoff"] is True
    sent = agent.client.post(f"/api/v1/assist/bots/{bot}/conversations/{c}/agent-messages", json={"text": "Hi, I'm Ann."})
    assert sent.status_code == 201, sent.text
    after = a.get(f"/api/v1/assist/bots/{bot}/conversations/{c}", params={"after": sent.json()["id"] - 1}).json()
    assert [(t["role"], t["text"]) for t in after["turns"]] == [("agent", "Hi, I'm Ann.")]
    back = agent.client.post(f"/api/v1/assist/bots/{bot}/conversations/{c}/release", json={})
    assert back.status_code == 200 and back.json()["status"] == "bot"
    r = say(a, bot, c, "hello")
    assert replies(r) == ["Hello! How can I help?"]
    # A complaint goes to a person by rule; asking for one too.
    c2 = unique("c").replace(".", "-").lower()
    assert say(a, bot, c2, "the food was cold")["handoff"] == {"reason": "complaint"}
    c3 = unique("c").replace(".", "-").lower()
    assert say(a, bot, c3, "I want to talk to a person")["handoff"] == {"reason": "requested"}

    an = a.get(f"/api/v1/assist/bots/{bot}/analytics", params={"interval_s": 3600}).json()
    reasons = {x["reason"]: x["handoffs"] for x in an["handoff_reasons"]}
    assert reasons.get("fallback", 0) >= 1 and reasons.get("complaint", 0) >= 1 and reasons.get("requested", 0) >= 1
    assert 0 < an["containment_rate"] < 1 and an["fallbacks"] >= 2 and an["messages"] >= 6
    assert any(i["intent"] == "greet" for i in an["intents"])


def test_conversations_survive_a_restart_and_expire_when_idle(make_server):
    srv = make_server()
    a = srv.admin
    index = "faq-restart"
    assert a.post("/api/v1/search/indexes", json={"name": index, "fields": {"title": {"type": "text"},
                                                                             "body": {"type": "text"}}}).status_code == 201
    bot = "restart"
    assert a.post("/api/v1/assist/bots", json=diner_bot(bot, index, ttl_s=3)).status_code == 201
    train(a, bot)
    r = say(a, bot, "c1", "book a table for saturday")
    assert r["state"]["requested_slot"] == "people"
    srv.stop()
    srv.start()
    a = srv.admin
    wait_for(lambda: a.get("/api/v1/assist/bots/restart").json().get("deployment_state") == "ready", 120, "deployment loaded")
    r = say(a, bot, "c1", "for 2")
    assert r["slots"] == {"day": "saturday", "people": "2"} and r["state"]["confirming"]
    time.sleep(4)
    r = say(a, bot, "c1", "hello")
    assert r["slots"] == {} and r["state"]["form"] is None
    conv = a.get(f"/api/v1/assist/bots/{bot}/conversations/c1").json()
    assert conv["session"] == 2


def test_versions_and_rollback(server, diner):
    a, (bot, index) = server.admin, diner
    d = diner_bot(bot, index)
    d["intents"].append({"name": "opening_hours", "examples": ["when are you open", "what are your opening hours",
                                                               "are you open on sundays", "what time do you close",
                                                               "when do you open"]})
    d["responses"]["opening_hours"] = "We're open 5pm to 11pm."
    resp = a.put(f"/api/v1/assist/bots/{bot}", json=d)
    assert resp.status_code == 200 and resp.json()["latest_version"] == 2 and resp.json()["state"] == "draft"
    assert train(a, bot, version=2)["serving_version"] == 2
    c = unique("c").replace(".", "-").lower()
    assert replies(say(a, bot, c, "what are your opening hours")) == ["We're open 5pm to 11pm."]
    versions = a.get(f"/api/v1/assist/bots/{bot}/versions").json()["versions"]
    assert [v["version"] for v in versions] == [2, 1] and all(v["state"] == "trained" for v in versions)
    rolled = a.post(f"/api/v1/assist/bots/{bot}/rollback", json={"version": 1})
    assert rolled.status_code == 200, rolled.text
    wait_for(lambda: a.get(f"/api/v1/assist/bots/{bot}").json()["serving_version"] == 1, 60, "version 1 served")
    r = say(a, bot, c, "what are your opening hours")
    assert r["bot_version"] == 1 and r["intent"]["name"] != "opening_hours"
    assert_error(a.post(f"/api/v1/assist/bots/{bot}/rollback", json={"version": 9}), 404, "not_found")


def test_bad_input_is_refused_and_changes_nothing(server):
    a = server.admin
    good = {"name": "bad-input", "intents": [{"name": "greet", "examples": ["hi"]}]}
    assert_error(a.post("/api/v1/assist/bots", data=b"{nope"), 400, "invalid_json")
    for broken, word in [({**good, "intents": []}, "intents"),
                         ({**good, "name": "Bad Name"}, "bot name"),
                         ({**good, "intents": [{"name": "greet", "examples": ["[x](day)"]}]}, "declare"),
                         ({**good, "forms": [{"name": "f", "intent": "nope", "slots": [{"name": "s", "question": "?"}]}]}, "intents"),
                         ({**good, "entities": [{"name": "n", "regex": "("}]}, "regex"),
                         ({**good, "language": "klingon"}, "language"),
                         ({**good, "fallback": {"threshold": 3}}, "threshold")]:
        resp = a.post("/api/v1/assist/bots", json=broken)
        assert_error(resp, 400, "bad_request")
        assert word in resp.json()["error"]["message"], resp.text
    assert a.get("/api/v1/assist/bots/bad-input").status_code == 404
    assert a.post("/api/v1/assist/bots", json=good).status_code == 201
    assert_error(a.post("/api/v1/assist/bots", json=good), 409, "conflict")
    # Not trained yet: understanding is refused with a reason.
    assert_error(a.post("/api/v1/assist/bots/bad-input/messages", json={"text": "hi"}), 409, "conflict")
    assert_error(a.post("/api/v1/assist/bots/bad-input/messages", json={"text": "hi", "conversation_id": "../x"}), 400)
    assert_error(a.post("/api/v1/assist/bots/bad-input/messages", json={"text": "x" * 6000}), 413)
    assert_error(a.post("/api/v1/assist/bots/nobody/messages", json={"text": "hi"}), 404, "not_found")
    assert_error(a.post("/api/v1/assist/bots/bad-input/predict", json={"texts": "hi"}), 400)
    # Viewers read bots but may not chat with them or change them.
    viewer = server.create_user(roles=["viewer"], prefix="viewer")
    assert viewer.client.get("/api/v1/assist/bots/bad-input").status_code == 200
    assert_error(viewer.client.post("/api/v1/assist/bots/bad-input/messages", json={"text": "hi"}), 403)
    assert_error(viewer.client.post("/api/v1/assist/bots/bad-input/train", json={}), 403)
    assert_error(server.anonymous.get("/api/v1/assist/bots"), 401)


def spoken(text: str, rate: int = 16000) -> bytes:
    """`text` said by espeak-ng's US English voice (the recogniser's model is US English) at
    22,050 Hz, resampled to `rate` with audioop, as WAV bytes."""
    import audioop  # noqa: PLC0415 (deprecated in 3.13; Debian 12 has 3.11)
    import io
    import subprocess
    import tempfile
    import wave
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", f.name, text], check=True)
        with wave.open(f.name) as w:
            frames, width, channels, source = w.readframes(w.getnframes()), w.getsampwidth(), w.getnchannels(), w.getframerate()
    converted, _ = audioop.ratecv(frames, width, channels, source, rate, None)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(converted)
    return out.getvalue()


def test_voice_messages_are_heard_answered_and_spoken(server, diner):
    import base64
    import io
    import wave
    a, (bot, _) = server.admin, diner
    c = unique("v").replace(".", "-").lower()
    path = f"/api/v1/assist/bots/{bot}/messages/audio"
    # An example's phrasing with another day than the examples have: the grammar's slot.
    r = a.post(path, params={"conversation_id": c, "speak": "true"}, data=spoken("can I reserve a table for saturday"),
               headers={"Content-Type": "audio/wav"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["transcript"]["text"] == "can i reserve a table for saturday"
    assert body["intent"]["name"] == "book_table" and body["slots"] == {"day": "saturday"}
    assert replies(body) == ["For how many people?"]
    # The reply spoken: a WAV of espeak-ng's rate, as long as the sentence takes.
    wav = base64.b64decode(body["audio"]["data"])
    assert body["audio"]["content_type"] == "audio/wav" and body["audio"]["bytes"] == len(wav)
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22050)
        assert 0.8 < w.getnframes() / 22050 < 5
    # The conversation goes on, by voice or text alike: the stored turn is the transcript.
    conv = a.get(f"/api/v1/assist/bots/{bot}/conversations/{c}").json()
    assert conv["turns"][0]["text"] == "can i reserve a table for saturday" and conv["state"]["slots"] == {"day": "saturday"}

    # Without speak: text only. Accept: audio/wav answers the WAV with what was heard in headers.
    r = a.post(path, params={"conversation_id": c}, data=spoken("cancel that please"))
    assert r.status_code == 200 and "audio" not in r.json() and r.json()["transcript"]["text"] == "cancel that please"
    r = a.post(path, params={"conversation_id": unique("v").replace(".", "-").lower()}, data=spoken("hello"),
               headers={"Accept": "audio/wav"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "audio/wav", r.headers
    assert r.headers["X-Transcript"] == "hello" and r.headers["X-Intent"] == "greet"
    assert r.content[:4] == b"RIFF" and r.content[8:12] == b"WAVE"

    # Each intent's phrasing, heard as said (at 22.05 and 44.1 kHz too: any rate is resampled).
    said = ["I want to talk to a person", "how do I install debian", "see you later", "book a table for 6",
            "what's the weather like", "the food was cold"]
    heard = []
    for i, text in enumerate(said):
        r = a.post(path, params={"conversation_id": unique("v").replace(".", "-").lower()},
                   data=spoken(text, rate=[16000, 22050, 44100][i % 3]))
        assert r.status_code == 200, r.text
        heard.append(r.json()["transcript"]["text"])
    assert heard == ["i want to talk to a person", "how do i install debian", "see you later", "book a table for six",
                     "what's the weather like", "the food was cold"]


def test_bad_audio_is_refused(server, diner):
    import io
    import wave
    a, (bot, _) = server.admin, diner
    path = f"/api/v1/assist/bots/{bot}/messages/audio"
    c = unique("v").replace(".", "-").lower()
    assert_error(a.post(path, params={"conversation_id": c}, data=b"not a wav file at all"), 400, "bad_request")
    assert_error(a.post(path, params={"conversation_id": c, "speak": "maybe"}, data=spoken("hello")), 400, "bad_request")
    # An A-law WAV: compressed, refused by name.
    alaw = bytearray(spoken("hello"))
    alaw[20] = 6
    resp = a.post(path, params={"conversation_id": c}, data=bytes(alaw))
    assert_error(resp, 400, "bad_request")
    assert "compressed" in resp.json()["error"]["message"]
    # Silence: nothing the bot expects was said.
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 16000)
    assert_error(a.post(path, params={"conversation_id": c}, data=out.getvalue()), 422, "unprocessable")
    # Over a minute: too long.
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000 * 61)
    assert_error(a.post(path, params={"conversation_id": c}, data=out.getvalue()), 413, "payload_too_large")
    # None of it started a conversation; a bot that was never trained has no ears yet.
    assert a.get(f"/api/v1/assist/bots/{bot}/conversations/{c}").status_code == 404
    other = unique("untrained").replace(".", "-").lower()
    assert a.post("/api/v1/assist/bots", json=diner_bot(other, "none")).status_code == 201
    assert_error(a.post(f"/api/v1/assist/bots/{other}/messages/audio", data=spoken("hello")), 409, "conflict")
    # A viewer may not talk to bots.
    viewer = server.create_user(roles=["viewer"], prefix="viewer")
    assert_error(viewer.client.post(path, data=spoken("hello")), 403, "forbidden")


def test_faq_from_a_dataset_is_indexed_for_the_bot_and_follows_new_versions(server):
    """faq.dataset: training makes the bot's own search index of the dataset's question/answer
    rows; a question is answered from it with its source, and a new version of the dataset
    reaches the answers without a retrain."""
    from datasets_helpers import create_dataset, push, wait_ready
    a = server.admin
    ds = create_dataset(a, unique("faqds").replace(".", "-").lower())
    rows = [("q1", "How do I reset my password?", "Use the link on the sign-in page."),
            ("q2", "Where can I park my car?", "Behind the restaurant, free after six.")]

    def csv(rs):
        return ("id,question,answer\n" + "".join(f'{i},"{q}","{x}"\n' for i, q, x in rs)).encode()
    wait_ready(a, ds, push(a, ds, csv(rows))["version"])
    bot = unique("faqbot").replace(".", "-").lower()
    definition = diner_bot(bot, "unused")
    definition["faq"] = {"dataset": ds, "question": "question", "answer": "answer"}
    definition["intents"] = [i for i in definition["intents"] if i["name"] != "faq"] + [
        {"name": "faq", "examples": ["how do I reset my password", "where can I park", "do you have parking",
                                     "how can I change my password", "is there a car park", "what are your hours"]}]
    assert a.post("/api/v1/assist/bots", json=definition).status_code == 201
    train(a, bot)
    index = f"assist-{bot}-faq"
    assert a.get(f"/api/v1/search/indexes/{index}").json()["source"]["dataset"] == ds

    c = unique("c").replace(".", "-").lower()
    r = say(a, bot, c, "Where can I park my car?")
    assert replies(r) == ["Behind the restaurant, free after six."], r
    assert r["replies"][0]["source"] == {"index": index, "id": "q2", "question": "Where can I park my car?"}

    # A new version of the dataset: its new question is answered, no retrain.
    wait_ready(a, ds, push(a, ds, csv(rows + [("q3", "Do you have vegan dishes?", "Yes, five of them.")]))["version"])
    wait_for(lambda: a.get(f"/api/v1/search/indexes/{index}").json()["documents"] == 3, 60,
             "the bot's FAQ index to follow the dataset")
    r = say(a, bot, unique("c").replace(".", "-").lower(), "Do you have vegan dishes?")
    assert replies(r) == ["Yes, five of them."] and r["replies"][0]["source"]["id"] == "q3", r
