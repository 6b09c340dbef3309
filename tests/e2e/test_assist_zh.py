"""A Chinese bot, black-box: intents and restaurant entities from CrossWOZ's validation dialogues
(the user turns, labelled by their first dialogue act; dishes and prices from the values they
inform), measured on the test dialogues it never saw against a TF-IDF + logistic regression
baseline over characters computed here; a form filled in Chinese; a question answered from the
Chinese Debian FAQ with its source."""
from __future__ import annotations

import json
import zipfile

from conftest import unique
from datasets_helpers import shared_data
from search_helpers import debian_faq
from test_assist import replies, say, tfidf_logistic_baseline, train

DOMAINS = {"餐馆": "restaurant", "酒店": "hotel", "景点": "attraction", "出租": "taxi", "地铁": "metro"}


def crosswoz(part: str) -> dict:
    with zipfile.ZipFile(shared_data(f"crosswoz/{part}.json.zip")) as z:
        return json.loads(z.read(z.namelist()[0]))


def user_turns(dialogues: dict):
    """(text, intent, acts) of each user turn: the intent is the first act about a domain
    (inform_restaurant, request_hotel…) or, without one, the general act (thank, bye)."""
    for d in dialogues.values():
        for m in d["messages"]:
            if m["role"] != "usr":
                continue
            acts = m["dialog_act"]
            domain = [a for a in acts if a[0] != "General"]
            if domain:
                kind, dom = domain[0][0], domain[0][1]
                if kind not in ("Inform", "Request") or dom not in DOMAINS:
                    continue
                intent = f"{kind.lower()}_{DOMAINS[dom]}"
            elif acts and acts[0][1] in ("thank", "bye", "greet"):
                intent = acts[0][1]
            else:
                continue
            yield m["content"], intent, acts


def informed(dialogues: dict, domain: str, slot: str) -> list[str]:
    values = {a[3] for _, _, acts in user_turns(dialogues) for a in acts
              if a[0] == "Inform" and a[1] == domain and a[2] == slot and a[3]}
    return sorted(values)


def char_grams(t: str) -> list[str]:
    c = [ch for ch in t if not ch.isspace()]
    return c + [a + b for a, b in zip(c, c[1:])]


def test_a_chinese_bot_from_crosswoz_understands_fills_a_form_and_answers_faq(server):
    a = server.admin
    val, test = crosswoz("val"), crosswoz("test")
    examples: dict[str, list[str]] = {}
    for text, intent, _ in user_turns(val):
        if len(examples.setdefault(intent, [])) < 300:
            examples[intent].append(text)
    dishes, prices = informed(val, "餐馆", "推荐菜"), informed(val, "餐馆", "人均消费")
    assert len(dishes) > 50 and len(prices) > 5

    faq_index = unique("faqzh").replace(".", "-").lower()
    resp = a.post("/api/v1/search/indexes", json={"name": faq_index, "language": "zh",
                                                   "fields": {"title": {"type": "text", "weight": 3}, "body": {"type": "text"}}})
    assert resp.status_code == 201, resp.text
    faq = debian_faq("zh")
    assert a.post(f"/api/v1/search/indexes/{faq_index}/documents", json=faq).status_code == 200
    faq_titles = {d["id"]: d["title"] for d in faq}
    examples["faq"] = [faq_titles[i] for i in ("1.1", "2.3", "4.2", "5.2", "5.5", "6.4", "1.4", "3.1.4")]

    bot = unique("zhbot").replace(".", "-").lower()
    definition = {
        "name": bot, "language": "zh",
        "intents": [{"name": k, "examples": v} for k, v in examples.items()],
        "entities": [{"name": "dish", "lookup": dishes}, {"name": "price", "lookup": prices}],
        "responses": {"greet": "您好！请问有什么可以帮您？", "thank": "不客气！", "bye": "再见！",
                      "fallback": "抱歉，我没有听懂。"},
        "forms": [{"name": "find_restaurant", "intent": "inform_restaurant", "done": "好的，为您找人均{price}、有{dish}的餐馆。",
                   "slots": [{"name": "dish", "entity": "dish", "question": "您想吃什么菜？"},
                             {"name": "price", "entity": "price", "question": "人均消费在多少？"}]}],
        "faq": {"index": faq_index, "question": "title", "answer": "body"},
    }
    resp = a.post("/api/v1/assist/bots", json=definition)
    assert resp.status_code == 201, resp.text
    b = train(a, bot)
    assert b["evaluation"]["examples"] == sum(len(v) for v in examples.values())

    # The test dialogues' user turns: accuracy against the baseline trained on the same examples.
    measured = [(t, i) for t, i, _ in user_turns(test)]
    texts = [t for t, _ in measured]
    resp = a.post(f"/api/v1/assist/bots/{bot}/predict", json={"texts": texts})
    assert resp.status_code == 200, resp.text
    got = [p["intent"] for p in resp.json()["predictions"]]
    accuracy = sum(g == i for g, (_, i) in zip(got, measured)) / len(measured)
    train_texts = [t for v in examples.values() for t in v]
    train_labels = [k for k, v in examples.items() for _ in v]
    base = tfidf_logistic_baseline(train_texts, train_labels, texts, grams=char_grams)
    base_accuracy = sum(p == i for p, (_, i) in zip(base, measured)) / len(measured)
    print(f"crosswoz test: {len(measured)} user turns, assist {accuracy:.4f}, baseline {base_accuracy:.4f}")
    assert len(measured) > 4000
    # Within two points of the character-bigram baseline (measured: 87.1 against 88.5; see
    # docs/benchmarks.md): many turns are ambiguous out of their dialogue ("what is its
    # address?") or labelled by which of two acts came first.
    assert accuracy >= base_accuracy - 0.02, (accuracy, base_accuracy)
    assert accuracy > 0.8

    # Dishes the test dialogues inform, found where the lookup knows them, at their place.
    found = total = 0
    sample = [(t, acts) for t, _, acts in user_turns(test)
              if any(x[0] == "Inform" and x[1] == "餐馆" and x[2] == "推荐菜" and x[3] in dishes for x in acts)][:100]
    resp = a.post(f"/api/v1/assist/bots/{bot}/predict", json={"texts": [t for t, _ in sample]})
    for (t, acts), p in zip(sample, resp.json()["predictions"]):
        want = {x[3] for x in acts if x[0] == "Inform" and x[1] == "餐馆" and x[2] == "推荐菜" and x[3] in dishes}
        have = {e["value"] for e in p["entities"] if e["entity"] == "dish"}
        for e in p["entities"]:
            assert t.encode()[e["start"]:e["end"]].decode() == e["value"] or e["entity"] != "dish"
        found += len(want & have)
        total += len(want)
    assert total >= 50 and found / total >= 0.9, (found, total)

    # A form in Chinese: the dish and the price asked for, then the booking said back.
    c = unique("zh").replace(".", "-").lower()
    r = say(a, bot, c, "你好，我想找一家餐馆吃饭")
    assert r["intent"]["name"] == "inform_restaurant", r
    assert replies(r) == ["您想吃什么菜？"]
    dish, price = dishes[0], prices[0]
    r = say(a, bot, c, f"{dish}吧")
    assert r["slots"] == {"dish": dish} and replies(r) == ["人均消费在多少？"], r
    r = say(a, bot, c, f"人均{price}")
    assert replies(r) == [f"好的，为您找人均{price}、有{dish}的餐馆。"], r
    assert r["submitted"] == "find_restaurant"

    # A Debian question in Chinese, answered from the Chinese FAQ with its source.
    r = say(a, bot, unique("zh").replace(".", "-").lower(), "Debian GNU/Linux 使用什么内核？")
    assert r["replies"] and r["replies"][0]["source"]["index"] == faq_index, r
    assert r["replies"][0]["source"]["id"] == "4.2", r
