"""The long-lived objects of one app, built by ``create_app`` and reached by dependencies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from .config import Config
from .discovery.scopes import ScopeCatalog
from .hosts import HostRegistry
from .keys import KeyManager
from .ops.metrics import Metrics
from .store import Store
from .tokens import RevocationList


@dataclass
class AppState:
    config: Config
    hosts: HostRegistry
    store: Store
    keys: KeyManager
    metrics: Metrics
    revocations: RevocationList
    clock: Callable[[], float]
    scopes: ScopeCatalog


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.gatekeeper
    return state


StateDep = Annotated[AppState, Depends(get_state)]
