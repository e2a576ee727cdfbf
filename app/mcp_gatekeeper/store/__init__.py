"""State behind one small interface: memory (default), sqlite or Redis (``factory.py``)."""

from .base import Store, StoreUnavailable, stop_if_cancelled
from .memory import MemoryStore

__all__ = ["MemoryStore", "Store", "StoreUnavailable", "stop_if_cancelled"]
