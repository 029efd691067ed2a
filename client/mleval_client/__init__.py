"""mleval-client: the mleval API from Python, `run_experiment` and the `mleval gate` CI gate.

from mleval_client import Client, run_experiment
client = Client("http://127.0.0.1:8000", token)   # or MLEVAL_URL / MLEVAL_TOKEN
report = run_experiment({"category": "sentiment"}, my_model, client=client)
"""

from mleval_client.client import ENDPOINTS, Client
from mleval_client.experiment import run_experiment
from mleval_client.wire import MlevalError

__all__ = ["ENDPOINTS", "Client", "MlevalError", "run_experiment"]
