"""Canonical schemas, loaders, the synthetic marketplace generator and splits."""
