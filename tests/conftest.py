"""Test-session set-up: a fresh autotune cache and module folder, so no test sees another run's
tuned configs (a cache hit would skip the tuning a test means to exercise)."""
import os
import tempfile

os.environ["HELION_CACHE_DIR"] = tempfile.mkdtemp(prefix="helion-tests-")
