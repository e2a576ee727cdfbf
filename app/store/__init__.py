"""State behind one small interface: memory (default), sqlite or Redis (``factory.py``)."""

from .base import Store, StoreUnavailable
from .memory import MemoryStore

__all__ = ["MemoryStore", "Store", "StoreUnavailable"]
