"""``nerkit serve``: an HTTP service with dynamic batching (needs ``pip install nerkit[serve]``)."""
