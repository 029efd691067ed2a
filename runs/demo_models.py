"""Demo models: deterministic in-process functions, one per seeded domain, imperfect like real ones.

Endpoint form: `python:runs.demo_models:<function>`; each is called as function(input_data, config).
They read the signal the demo cases carry (an embedding, region proposals, the review text, the
series), so they fail where a real model would: sarcasm, noisy embeddings, a wrong proposal.
"""

import functools
import json
import math
import re
import time
import zlib

from cases.demo_data import IMAGE_CLASSES, NEGATIVE, POSITIVE, TOPICS


def compute_time(milliseconds: float):
    """Take time like a real model: about `milliseconds`, skewed, the same for the same input,
    so the latency figures mleval measures look like a real model's (p99 well above p50)."""

    def decorate(function):
        @functools.wraps(function)
        def timed(input_data: dict, config: dict) -> dict:
            digest = zlib.crc32(json.dumps(input_data, sort_keys=True).encode()) % 1000 / 1000
            time.sleep(milliseconds * (0.5 + 2 * digest**3) / 1000)
            return function(input_data, config)

        return timed

    return decorate


@compute_time(8)
def image_classifier(input_data: dict, config: dict) -> dict:
    """Nearest class centroid on the image embedding; `blur` degrades it (an older version)."""
    embedding = [v * (1 - config.get("blur", 0.0)) for v in input_data["embedding"]]

    def distance(label: str) -> float:
        return math.dist(embedding, IMAGE_CLASSES[label])

    ranked = sorted(IMAGE_CLASSES, key=distance)
    best, second = distance(ranked[0]), distance(ranked[1])
    return {"label": ranked[0], "confidence": round(second / (best + second), 3)}


@compute_time(15)
def object_detector(input_data: dict, config: dict) -> dict:
    """Second stage of a two-stage detector: keep proposals whose best class clears a threshold."""
    threshold = config.get("score_threshold", 0.4)
    boxes = []
    for proposal in input_data.get("proposals", []):
        label, score = max(proposal["scores"].items(), key=lambda item: item[1])
        if score >= threshold:
            boxes.append({"label": label, "bbox": proposal["bbox"], "score": score})
    return {"boxes": boxes}


@compute_time(2)
def sentiment_classifier(input_data: dict, config: dict) -> dict:
    """A lexicon model: counts positive and negative words (so sarcasm fools it)."""
    words = re.findall(r"[a-z]+", input_data["text"].lower())
    positive_weight = config.get("positive_weight", 1.0)
    score = positive_weight * sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)
    label = "positive" if score > 0 else "negative" if score < 0 else "neutral"
    return {"label": label, "confidence": min(1.0, 0.5 + abs(score) / 4)}


@compute_time(4)
def extractive_qa(input_data: dict, config: dict) -> dict:
    """Picks the context sentence sharing most words with the question, then its last words."""
    question = set(re.findall(r"\w+", input_data["question"].lower()))
    sentences = [s for s in re.split(r"(?<=\.)\s+", input_data["context"]) if s]
    best = max(sentences, key=lambda s: len(question & set(re.findall(r"\w+", s.lower()))))
    words = best.rstrip(".").split()
    return {"text": " ".join(words[-config.get("answer_words", 2) :])}


@compute_time(3)
def forecaster(input_data: dict, config: dict) -> dict:
    """Seasonal naive (repeat the last season) or, when `seasonal` is off, repeat the last value."""
    series, horizon = input_data["series"], input_data.get("horizon", 7)
    if config.get("seasonal", True):
        season = series[-7:]
        return {"values": [season[t % 7] for t in range(horizon)]}
    return {"values": [series[-1]] * horizon}


@compute_time(5)
def recommender(input_data: dict, config: dict) -> dict:
    """Ranks candidates by how often their genre appears in the user's history."""
    genre_of = {c["id"]: c["genre"] for c in input_data["candidates"]}
    history = [genre_of.get(item) or item.split("-")[0] for item in input_data["history"]]
    counts = {genre: history.count(genre) for genre in set(genre_of.values())}
    if config.get("popularity_only"):
        counts = dict.fromkeys(counts, 0)
    ranking = sorted(genre_of, key=lambda item: (-counts[genre_of[item]], item))
    return {"ranking": ranking[: config.get("k", 10)]}


@compute_time(1)
def churn_classifier(input_data: dict, config: dict) -> dict:
    risky = input_data["contract"] == "month-to-month" and input_data["support_calls"] >= 3
    return {"label": "churn" if risky or input_data["tenure_months"] < 4 else "stay"}


@compute_time(1)
def churn_scorer(input_data: dict, config: dict) -> dict:
    """A logistic model of the churn risk: a label with its predict_proba-style scores (the
    report's ROC, PR, calibration and threshold explorer read them)."""
    calls = config.get("calls_weight", 0.4)
    risk = calls * input_data["support_calls"] - 0.03 * input_data["tenure_months"]
    risk += 1.0 if input_data["contract"] == "month-to-month" else -0.5
    churn = round(1 / (1 + math.exp(-(risk - 0.5) / config.get("temperature", 0.45))), 4)
    scores = {"churn": churn, "stay": round(1 - churn, 4)}
    return {"label": "churn" if churn >= 0.5 else "stay", "scores": scores}


@compute_time(2)
def topic_tagger(input_data: dict, config: dict) -> dict:
    """Tags a headline with every topic whose common words it contains (it does not know
    each topic's last, rarer word), and "economy" whenever a market or city report is near."""
    words = set(re.findall(r"[a-z]+", input_data["text"].lower()))
    labels = [topic for topic, vocabulary in TOPICS.items() if words & set(vocabulary[:-1])]
    if config.get("eager") and "politics" in labels:
        labels.append("economy")
    return {"labels": sorted(set(labels))}


@compute_time(1)
def price_regressor(input_data: dict, config: dict) -> dict:
    value = (
        1700 * input_data["area_m2"] + 10000 * input_data["rooms"] - 500 * input_data["age_years"]
    )
    return {"value": round(value, -2)}


@compute_time(20)
def summariser(input_data: dict, config: dict) -> dict:
    """Returns the article's first sentence, as a lazy summariser would."""
    article = input_data["prompt"].split("\n", 1)[-1]
    return {"text": article.split(". ")[0].rstrip(".") + "."}


@compute_time(6)
def invoice_extractor(input_data: dict, config: dict) -> dict:
    """Regex extraction; misses the currency when told to be terse (an older prompt)."""
    document = input_data["document"]
    vendor = re.search(r"Invoice from (.+?), issued", document)
    date = re.search(r"\d{4}-\d{2}-\d{2}", document)
    amount = re.search(r"Amount due: ([\d.]+) (\w+)", document)
    result = {
        "vendor": vendor.group(1) if vendor else None,
        "date": date.group(0) if date else None,
        "total": float(amount.group(1)) if amount else None,
    }
    if not config.get("terse"):
        result["currency"] = amount.group(2) if amount else None
    return result
