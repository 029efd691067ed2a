"""Realistic multi-domain golden sets for `seed_user_data` (deterministic: same rows every time).

Each case carries `metadata.seed_key`, which is how the seed stays idempotent and how
`--reset` finds its own rows without touching anyone else's.
"""

import math
import random
from collections.abc import Iterator

SOURCE = "mleval demo seed"

IMAGE_CLASSES = {
    "cat": [0.9, 0.1, 0.2, 0.1, 0.3, 0.1, 0.0, 0.2],
    "dog": [0.7, 0.3, 0.3, 0.1, 0.2, 0.2, 0.1, 0.1],
    "bird": [0.1, 0.9, 0.1, 0.6, 0.1, 0.1, 0.2, 0.3],
    "car": [0.1, 0.1, 0.9, 0.1, 0.1, 0.8, 0.3, 0.1],
    "ship": [0.2, 0.2, 0.6, 0.2, 0.1, 0.3, 0.9, 0.1],
}
POSITIVE = ["great", "love", "excellent", "perfect", "happy", "fast", "recommend", "works"]
NEGATIVE = ["broken", "slow", "terrible", "refund", "disappointed", "waste", "bad", "late"]
PRODUCTS = ["headphones", "blender", "phone case", "desk lamp", "backpack", "keyboard", "kettle"]
CITIES = ["Lisbon", "Oslo", "Nairobi", "Lima", "Hanoi", "Perth", "Quebec", "Tbilisi"]
FACTS = [
    (
        "river",
        "The {city} river festival takes place every {month}.",
        "When is the river festival?",
    ),
    ("founded", "{city} was founded in {year} by traders.", "When was {city} founded?"),
    ("mayor", "The mayor of {city} is {name}.", "Who is the mayor of {city}?"),
]
MONTHS = ["March", "May", "July", "September", "November"]
NAMES = ["Ana Costa", "Ingrid Berg", "Wanjiru Mwangi", "Rosa Quispe", "Linh Tran", "Sam Ellis"]
ITEMS = [f"item-{i:03d}" for i in range(60)]
GENRES = ["jazz", "rock", "ambient", "hiphop", "classical", "folk"]
VENDORS = ["ACME Corp", "Globex", "Initech", "Umbrella Ltd", "Stark Supplies", "Wayne Foods"]
# News topics (multilabel) and the words that signal them; the last word of each is rare.
TOPICS = {
    "economy": ["inflation", "market", "jobs", "tariff"],
    "health": ["hospital", "vaccine", "clinic", "outbreak"],
    "sport": ["match", "league", "coach", "stadium"],
    "climate": ["flood", "emissions", "drought", "glacier"],
    "politics": ["election", "parliament", "minister", "referendum"],
}


def _case(key: str, *, difficulty: str = "", tags: list[str] | None = None, **fields) -> dict:
    metadata = {"source": SOURCE, "seed_key": key, "licence": "CC-BY-4.0", **fields.pop("meta", {})}
    return {"difficulty": difficulty, "tags": tags or [], "metadata": metadata, **fields}


def _difficulty(rng: random.Random) -> str:
    return rng.choices(["easy", "medium", "hard"], weights=[5, 3, 2])[0]


def image_classification(rng: random.Random, n: int) -> Iterator[dict]:
    labels = sorted(IMAGE_CLASSES)
    for i in range(n):
        label = labels[i % len(labels)]
        difficulty = _difficulty(rng)
        noise = {"easy": 0.08, "medium": 0.2, "hard": 0.35}[difficulty]
        embedding = [round(v + rng.gauss(0, noise), 3) for v in IMAGE_CLASSES[label]]
        yield _case(
            f"vision-cls-{i}",
            difficulty=difficulty,
            tags=["cifar-like", "photo" if i % 3 else "sketch"],
            input_data={
                "image_path": f"s3://golden/vision/cls/{i:05d}.jpg",
                "width": 224,
                "height": 224,
                "embedding": embedding,
            },
            input_type="image_path",
            input_format="file_path",
            ground_truth={"label": label},
            output_type="classification",
            model_type="computer_vision",
            category="image_classification",
        )


def object_detection(rng: random.Random, n: int) -> Iterator[dict]:
    for i in range(n):
        boxes, proposals = [], []
        for _ in range(rng.randint(1, 3)):
            label = rng.choice(["person", "car", "bicycle"])
            x, y = rng.randint(0, 500), rng.randint(0, 340)
            w, h = rng.randint(40, 140), rng.randint(40, 140)
            boxes.append({"label": label, "bbox": [x, y, x + w, y + h]})
            jitter = [x + rng.randint(-12, 12), y + rng.randint(-12, 12)]
            wrong = rng.random() < 0.15
            proposals.append(
                {
                    "bbox": [*jitter, jitter[0] + w + rng.randint(-15, 15), jitter[1] + h],
                    "scores": {label: 0.45 if wrong else 0.85, "person": 0.5 if wrong else 0.1},
                }
            )
        if rng.random() < 0.3:  # background clutter the detector may mistake for an object
            proposals.append(
                {"bbox": [10, 10, 60, 60], "scores": {"person": rng.uniform(0.3, 0.7)}}
            )
        yield _case(
            f"vision-det-{i}",
            difficulty=_difficulty(rng),
            tags=["street", "night" if i % 4 == 0 else "day"],
            input_data={
                "image_path": f"s3://golden/vision/det/{i:05d}.jpg",
                "width": 640,
                "height": 480,
                "proposals": proposals,
            },
            input_type="image_path",
            input_format="file_path",
            ground_truth={"boxes": boxes},
            output_type="bounding_boxes",
            model_type="computer_vision",
            category="object_detection",
        )


def sentiment(rng: random.Random, n: int) -> Iterator[dict]:
    for i in range(n):
        label = ["positive", "negative", "neutral"][i % 3]
        product = rng.choice(PRODUCTS)
        if label == "positive":
            words = rng.sample(POSITIVE, 2)
            text = f"The {product} is {words[0]}, I {words[1]} it."
        elif label == "negative":
            words = rng.sample(NEGATIVE, 2)
            text = f"My {product} arrived {words[0]} and feels {words[1]}."
        else:
            finish = rng.choice(["matte", "glossy"])
            text = f"The {product} came in a blue box and has a {finish} finish."
        if i % 7 == 0:  # sarcasm: positive words, negative meaning
            text, label = (
                f"Oh {rng.choice(POSITIVE)}, another {product} that stopped working.",
                "negative",
            )
        yield _case(
            f"nlp-sent-{i}",
            difficulty="hard" if i % 7 == 0 else _difficulty(rng),
            tags=["en", "reviews", *(["sarcasm"] if i % 7 == 0 else [])],
            input_data={"text": text, "lang": "en"},
            input_type="text",
            ground_truth={"label": label},
            output_type="classification",
            model_type="nlp",
            category="sentiment",
        )


def extractive_qa(rng: random.Random, n: int) -> Iterator[dict]:
    for i in range(n):
        city = CITIES[i % len(CITIES)]
        key, template, question = FACTS[i % len(FACTS)]
        values = {"city": city, "month": rng.choice(MONTHS), "year": rng.randint(1200, 1900)}
        values["name"] = rng.choice(NAMES)
        fact = template.format(**values)
        answer = {
            "river": values["month"],
            "founded": str(values["year"]),
            "mayor": values["name"],
        }[key]
        filler = f"{city} is known for its markets. Tourism grew after the new airport opened."
        yield _case(
            f"nlp-qa-{i}",
            difficulty=_difficulty(rng),
            tags=["en", "squad-like"],
            input_data={"question": question.format(**values), "context": f"{filler} {fact}"},
            input_type="text",
            ground_truth={"text": answer},
            output_type="text",
            model_type="nlp",
            category="extractive_qa",
        )


def forecast(rng: random.Random, n: int) -> Iterator[dict]:
    for i in range(n):
        level, season, trend = rng.uniform(50, 200), rng.uniform(5, 25), rng.uniform(-0.5, 1.5)
        points = [
            round(level + trend * t + season * math.sin(2 * math.pi * t / 7) + rng.gauss(0, 3), 2)
            for t in range(35)
        ]
        yield _case(
            f"ts-fc-{i}",
            difficulty=_difficulty(rng),
            tags=["daily", "retail-demand"],
            input_data={"series": points[:28], "frequency": "D", "horizon": 7},
            input_type="time_series",
            ground_truth={"values": points[28:]},
            output_type="forecast",
            model_type="time_series",
            category="demand_forecast",
        )


def recommender(rng: random.Random, n: int) -> Iterator[dict]:
    genre_of = {item: GENRES[j % len(GENRES)] for j, item in enumerate(ITEMS)}
    for i in range(n):
        taste = rng.sample(GENRES, 2)
        history = rng.sample([it for it in ITEMS if genre_of[it] in taste], 5)
        candidates = rng.sample([it for it in ITEMS if it not in history], 20)
        relevant = [it for it in candidates if genre_of[it] == taste[0]][:4]
        relevant += [it for it in candidates if genre_of[it] == taste[1]][:1]
        yield _case(
            f"rec-rank-{i}",
            difficulty=_difficulty(rng),
            tags=["music", "next-item"],
            input_data={
                "user_id": f"user-{i:04d}",
                "history": history,
                "candidates": [{"id": c, "genre": genre_of[c]} for c in candidates],
            },
            input_type="json",
            ground_truth={"relevant": relevant},
            output_type="ranking",
            model_type="recommender",
            category="music_recommendation",
        )


def tabular(rng: random.Random, n: int) -> Iterator[dict]:
    for i in range(n):
        row = {
            "tenure_months": rng.randint(1, 72),
            "monthly_charges": round(rng.uniform(20, 120), 2),
            "support_calls": rng.randint(0, 8),
            "contract": rng.choice(["month-to-month", "one-year", "two-year"]),
        }
        risk = 0.04 * row["support_calls"] * 10 - 0.03 * row["tenure_months"]
        risk += 1.0 if row["contract"] == "month-to-month" else -0.5
        churned = risk + rng.gauss(0, 0.6) > 0.5
        yield _case(
            f"tab-churn-{i}",
            difficulty=_difficulty(rng),
            tags=["telco", "churn"],
            input_data=row,
            input_type="tabular",
            ground_truth={"label": "churn" if churned else "stay"},
            output_type="classification",
            model_type="tabular",
            category="churn",
        )
    for i in range(n):
        house = {
            "area_m2": rng.randint(35, 220),
            "rooms": rng.randint(1, 6),
            "age_years": rng.randint(0, 90),
            "city": rng.choice(CITIES),
        }
        price = 1800 * house["area_m2"] + 9000 * house["rooms"] - 600 * house["age_years"]
        yield _case(
            f"tab-price-{i}",
            difficulty=_difficulty(rng),
            tags=["real-estate"],
            input_data=house,
            input_type="tabular",
            ground_truth={"value": round(price * rng.uniform(0.9, 1.1), -2)},
            output_type="regression",
            model_type="tabular",
            category="house_price",
        )


def llm(rng: random.Random, n: int) -> Iterator[dict]:
    for i in range(n):
        city, product = rng.choice(CITIES), rng.choice(PRODUCTS)
        article = (
            f"A new store selling {product}s opened in {city} on Monday. "
            f"Shoppers queued for hours. The owners plan a second store next year."
        )
        yield _case(
            f"llm-sum-{i}",
            difficulty=_difficulty(rng),
            tags=["en", "summarisation"],
            input_data={"prompt": f"Summarise in one sentence:\n{article}"},
            input_type="text",
            ground_truth={"text": f"A {product} store opened in {city} to long queues."},
            output_type="text",
            model_type="llm",
            category="summarisation",
        )
    for i in range(n):
        vendor, total = rng.choice(VENDORS), round(rng.uniform(10, 2000), 2)
        date = f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        currency = rng.choice(["EUR", "USD"])
        yield _case(
            f"llm-extract-{i}",
            difficulty=_difficulty(rng),
            tags=["en", "invoices", "json-output"],
            input_data={
                "prompt": "Extract vendor, date, total and currency as JSON.",
                "document": f"Invoice from {vendor}, issued {date}. "
                f"Amount due: {total} {currency}.",
            },
            input_type="text",
            ground_truth={"vendor": vendor, "date": date, "total": total, "currency": currency},
            output_type="structured",
            model_type="llm",
            category="invoice_extraction",
        )


def ai_generated(rng: random.Random, n: int) -> Iterator[dict]:
    """Cases a generator model proposed: they wait in the review queue (a few were approved)."""
    for i, case in enumerate(sentiment(random.Random(rng.random()), n)):
        case["metadata"].update(seed_key=f"ai-sent-{i}", generator="llm-casegen-0.3")
        case.update(origin="ai-generated", is_verified=i < n // 4)
        case["tags"] = [*case["tags"], "synthetic"]
        yield case


def news_topics(rng: random.Random, n: int) -> Iterator[dict]:
    """Headlines about one to three topics (multilabel), each named by one of its words."""
    names = sorted(TOPICS)
    for i in range(n):
        topics = sorted(rng.sample(names, rng.choice([1, 1, 2, 2, 3])))
        words = [rng.choice(TOPICS[topic]) for topic in topics]
        city = rng.choice(CITIES)
        yield _case(
            f"news-topics-{i}",
            difficulty=_difficulty(rng),
            tags=["news"],
            input_data={"text": f"{city}: " + ", ".join(words) + " dominate the week."},
            input_type="text",
            ground_truth={"labels": topics},
            output_type="multilabel",
            model_type="nlp",
            category="news_topics",
        )


def demo_cases(per_domain: int = 40) -> list[dict]:
    """Every seeded case as a dict of TestCase fields (no created_by)."""
    rng = random.Random(20261122)
    generators = (
        image_classification,
        object_detection,
        sentiment,
        extractive_qa,
        forecast,
        recommender,
        tabular,
        llm,
    )
    cases = [case for generate in generators for case in generate(rng, per_domain)]
    # Domains added later come last, so the earlier ones keep their rows.
    return cases + list(ai_generated(rng, 24)) + list(news_topics(rng, per_domain))
