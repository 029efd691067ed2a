"""Test settings: the real settings with a fast password hasher and no SECRET_KEY needed."""

import os

os.environ.setdefault("MLEVAL_TESTING", "true")

from mleval_site.settings import *  # noqa: E402, F403
