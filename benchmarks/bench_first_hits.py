"""The first visit of a page in a fresh web process: what a person waits for after a deploy or
a worker restart (issue 13, "slow first hits").

Each page is measured in its own new Python process started the way gunicorn starts a worker
(importing ``mleval_site.wsgi``, which also imports the URLconf), then requested twice with
Django's test client: ``first`` is the cold hit, ``second`` the same page warm. ``login`` posts
the login form with the production password hashers (the test settings' MD5 would hide their
cost). ``heavy`` lists the scoring and statistics libraries the first hit imported (none is
the goal: rouge_score/nltk, sacrebleu, scipy.stats, scikit-learn, pandas).

    make bench                                  # every benchmark
    BENCH=benchmarks/bench_first_hits.py make bench
    python benchmarks/bench_first_hits.py       # against DATABASE_URL, seeding it if empty

Measured on the shared 2-core development machine (busy), seeded data, first hit in seconds,
before (main at 5d2f687) → after: evaluators 8.55 → 0.14 (it imported nltk, sacrebleu,
scipy.stats, scikit-learn, pandas), dashboard 1.56 → 0.21 and docs 0.90 → 0.12 (the URLconf,
now imported at worker start), report 1.16 → 0.21, comparison 0.85 → 0.29, login 2.45 → 0.31
(then 1.64 → 0.18 every login: the password hash), /api/schema/ 1.75 → 1.22 first and
0.26 → 0.11 after (generated once per process). Report and comparison also drop scipy.stats
(1 s) where they compute intervals (runs without a stored summary).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("rouge_score", "nltk", "sacrebleu", "scipy.stats", "sklearn", "pandas")
PAGES = ("dashboard", "evaluators", "report", "compare", "docs", "schema", "login")
PASSWORD = "first-hits-password-1"


def probe(page: str) -> dict:
    """In a fresh process: start like a web worker, then time the page's first and second hit."""
    start = time.perf_counter()
    import mleval_site.wsgi  # noqa: F401  (django.setup() and the URLconf, as a worker starts)

    started = time.perf_counter() - start
    from django.conf import global_settings, settings
    from django.contrib.auth.models import User
    from django.test import Client

    from runs.models import ModelRun

    settings.PASSWORD_HASHERS = getattr(
        settings, "PRODUCTION_PASSWORD_HASHERS", global_settings.PASSWORD_HASHERS
    )
    settings.ALLOWED_HOSTS = ["*"]
    runs = list(ModelRun.objects.order_by("id").values_list("pk", flat=True)[:2])
    user = User.objects.get(username="first-hits")
    if page == "login":
        user.set_password(PASSWORD)
        user.save()
    paths = {
        "dashboard": "/",
        "evaluators": "/evaluators/",
        "report": f"/runs/{runs[0]}/report/",
        "compare": f"/runs/compare/?a={runs[0]}&b={runs[1]}",
        "docs": "/api/docs/",
        "schema": "/api/schema/?format=json",
    }
    before = set(sys.modules)
    times = []
    for _ in range(2):
        client = Client()
        if page != "login":
            client.force_login(user)
        begin = time.perf_counter()
        if page == "login":
            response = client.post(
                "/accounts/login/", {"username": user.username, "password": PASSWORD}
            )
        else:
            response = client.get(paths[page])
        times.append(round(time.perf_counter() - begin, 3))
        assert response.status_code in (200, 302), (page, response.status_code)
    loaded = set(sys.modules) - before
    return {
        "page": page,
        "worker_start": round(started, 2),
        "first": times[0],
        "second": times[1],
        "heavy": sorted(m for m in HEAVY if m in loaded),
    }


def prepare() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _common  # noqa: F401  (django.setup() on the benchmark database)
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from runs.models import ModelRun

    if ModelRun.objects.count() < 2:
        call_command("seed_user_data", stdout=open(os.devnull, "w"))
    User.objects.filter(username="first-hits").exists() or User.objects.create_superuser(
        "first-hits", "first-hits@example.com", PASSWORD
    )


def main() -> None:
    prepare()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mleval_site.settings_test"}
    figures = {}
    for page in PAGES:
        out = subprocess.run(
            [sys.executable, __file__, "--probe", page],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = json.loads(out.strip().splitlines()[-1])
        figures[page] = {k: v for k, v in result.items() if k != "page"}
    from _common import report

    report("first_hits", figures)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--probe":
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mleval_site.settings_test")
        print(json.dumps(probe(sys.argv[2])))
    else:
        main()
