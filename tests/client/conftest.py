"""The client against a live server (pytest-django's live_server, a real HTTP server on the
test database) with a real API token."""

import pytest
from mleval_client import Client

from accounts.models import ApiToken

LABELS = ("positive", "negative")


@pytest.fixture
def connect(live_server):
    """connect(user) -> a Client on the live server with a new token of that user."""
    clients: list[Client] = []

    def make(user) -> Client:
        _, raw = ApiToken.objects.issue(user, "client tests")
        client = Client(live_server.url, raw)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def case_rows(n: int, category: str, prefix: str = "c") -> list[dict]:
    """n golden classification cases; case i's label alternates positive/negative."""
    return [
        {
            "external_id": f"{prefix}-{i}",
            "input_data": {"text": f"text {i}"},
            "input_type": "text",
            "ground_truth": {"label": LABELS[i % 2]},
            "output_type": "classification",
            "model_type": "nlp",
            "category": category,
            "origin": "human",
            "is_verified": True,
        }
        for i in range(n)
    ]
