"""A fresh web process's first hits stay fast (issue 13): what made them slow is pinned here.
Timings are in benchmarks/bench_first_hits.py; these tests pin the causes instead:

- the /evaluators/ page imported every scoring library to score its worked examples live
  (rouge_score → nltk, scipy, scikit-learn, pandas; sacrebleu): the built-ins' verdicts are
  stored (evaluations/evaluators/examples.py) and must equal a live scoring;
- the report and comparison imported scipy.stats (1 s) for Wilson, McNemar and the bootstrap;
- each worker imported its URLconf on its first request: mleval_site.wsgi imports it at start;
- a login spent ~0.5-0.75 s in PBKDF2: Argon2id at OWASP's parameters (accounts/hashers.py);
- /api/schema/ was generated on every request (0.3 s): once per process.
"""

import json
import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.test import Client, override_settings

from evaluations.evaluators import REGISTRY, installed_evaluators
from evaluations.evaluators.examples import live_entries, stored
from mleval_site.views import public_schema
from tests.conftest import PASSWORD

HEAVY = ("rouge_score", "nltk", "sacrebleu", "scipy.stats", "sklearn", "pandas")

# Run in a new interpreter: this test process has imported all of them long ago.
FRESH_PROCESS = """
import json, sys
import mleval_site.wsgi  # starts like a web worker
from django.urls import get_resolver
urlconf_at_start = "url_patterns" in get_resolver().__dict__
from django.template.loader import render_to_string
from evaluations import stats
from evaluations.evaluators.docs import evaluators_page
render_to_string("evaluations/evaluators.html", {"page": evaluators_page()})
stats.wilson_interval(7, 10)
stats.mcnemar_exact_p(3, 9)
stats.paired_bootstrap_ci([0.0, 1.0, -1.0, 0.5] * 50)
heavy = sorted(m for m in %r if m in sys.modules)
print(json.dumps({"urlconf_at_start": urlconf_at_start, "heavy": heavy}))
"""


def test_a_fresh_worker_imports_its_urls_at_start_and_no_scoring_library_for_pages():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mleval_site.settings_test"}
    out = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS % (HEAVY,)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=settings.BASE_DIR,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"urlconf_at_start": True, "heavy": []}


def test_stored_example_verdicts_are_what_the_evaluators_say_now():
    """Failing: an evaluator or its example changed; python -m evaluations.evaluators.examples"""
    names = sorted(stored().keys() & installed_evaluators().keys())  # an extra's where installed
    assert {"rouge_l", "bleu"} <= set(names)  # the ones whose libraries are heavy
    assert set(stored()) <= set(REGISTRY)
    assert live_entries(names) == {name: stored()[name] for name in names}


@override_settings(PASSWORD_HASHERS=settings.PRODUCTION_PASSWORD_HASHERS)
def test_passwords_are_argon2id_at_owasp_parameters_and_quick_to_check():
    encoded = make_password("a long passphrase")
    assert encoded.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    start = time.perf_counter()
    assert check_password("a long passphrase", encoded)
    assert time.perf_counter() - start < 0.25  # PBKDF2 at 1,500,000 iterations: ~0.5 s


@pytest.mark.django_db
@override_settings(PASSWORD_HASHERS=settings.PRODUCTION_PASSWORD_HASHERS)
def test_an_older_pbkdf2_password_still_logs_in_and_is_rehashed(make_user):
    user = make_user("viewer", "olga")
    user.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    user.save()
    response = Client().post("/accounts/login/", {"username": "olga", "password": PASSWORD})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$")


@pytest.mark.django_db
def test_the_schema_is_generated_once_per_process(viewer, login):
    client = login(viewer)
    public_schema.cache_clear()
    first = client.get("/api/schema/?format=json")
    second = client.get("/api/schema/?format=json")
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert public_schema.cache_info().misses == 1 and public_schema.cache_info().hits == 1
