"""Locust users for benchmarks/bench_load.py: people browsing mleval, and scripts on the API.

Not a benchmark on its own (`make bench` runs bench_*.py): bench_load.py seeds the database,
starts the production stack, logs the users in and runs `locust --headless -f` this file with
BENCH_LOAD_PLAN naming a JSON file with the sessions, tokens and the pages to request (the same
ones it requested one at a time). Every response time is written to BENCH_LOAD_SAMPLES at the
end, so the percentiles are exact.
"""

import itertools
import json
import os
import random

from locust import HttpUser, between, events, task

with open(os.environ["BENCH_LOAD_PLAN"]) as plan_file:
    PLAN = json.load(plan_file)
URLS: dict[str, list[str]] = PLAN["urls"]
_next_user = itertools.count()
SAMPLES: dict[str, list[float]] = {}
FAILURES: list[str] = []


@events.request.add_listener
def _collect(request_type, name, response_time, response_length, exception, **kwargs) -> None:
    SAMPLES.setdefault(name, []).append(response_time / 1000)
    if exception is not None:
        FAILURES.append(f"{name}: {exception}"[:300])


@events.quitting.add_listener
def _dump(environment, **kwargs) -> None:
    with open(os.environ["BENCH_LOAD_SAMPLES"], "w") as out:
        json.dump({"samples": SAMPLES, "failures": FAILURES}, out)


class Browser(HttpUser):
    """A logged-in person (session cookie) who also runs a script (Bearer token)."""

    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        me = PLAN["users"][next(_next_user) % len(PLAN["users"])]
        self.client.cookies.set("sessionid", me["session"])
        self.token = me["token"]
        self.rng = random.Random(me["session"])

    def get(self, name: str, **kwargs) -> None:
        """One of the plan's pages of that name; only a 200 counts (not a login redirect)."""
        path = self.rng.choice(URLS[name])
        with self.client.get(
            path, name=name, allow_redirects=False, catch_response=True, **kwargs
        ) as response:
            if response.status_code != 200:
                reason = response.error or f"HTTP {response.status_code}"
                response.failure(f"{reason} for {path}")

    @task(4)
    def case_list(self) -> None:
        self.get("case list (filters)")

    @task(4)
    def case_detail(self) -> None:
        self.get("case detail")

    @task(1)
    def run_report(self) -> None:
        self.get("run report")

    @task(3)
    def api_cases(self) -> None:
        self.get("API cases (filters)", headers={"Authorization": f"Bearer {self.token}"})
