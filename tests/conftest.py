"""Shared test settings. Under CI (CI=true) hypothesis runs a fixed example sequence, so a
red run always reproduces; locally it keeps exploring new examples."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
