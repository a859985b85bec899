"""A jobs module that never finishes importing (a lifespan's validate check must not outlive its server)."""

import time

time.sleep(600)
