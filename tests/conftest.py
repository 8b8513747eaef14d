"""Shared test settings. Every run draws the same hypothesis examples (derandomized, no
example database), so `make test` and CI are red or green together and a failure always
reproduces. To explore new examples: pytest --hypothesis-profile=explore."""

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("explore", max_examples=300, deadline=None, print_blob=True)
settings.load_profile("ci")  # --hypothesis-profile (the hypothesis plugin) overrides this
