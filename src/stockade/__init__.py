"""Stockade: self-hosted CI whose first promise is that running someone's build cannot hurt you."""

__version__ = "0.1.0"
