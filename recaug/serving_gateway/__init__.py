"""recaug.serving_gateway: the HTTP recommendation API serving apps call (Feast -> Triton -> re-rank)."""
