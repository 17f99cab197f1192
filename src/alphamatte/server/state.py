"""Everything a request handler needs, built once by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import Engine

from alphamatte.config import Settings
from alphamatte.engine.inference.matting import Matter
from alphamatte.server.accounting.keys import RecentKeys
from alphamatte.server.admission import MemoryBudget
from alphamatte.server.executor import BoundedExecutor
from alphamatte.server.models import ModelPool
from alphamatte.server.ratelimit import RateLimiter
from alphamatte.server.result_cache import NoResultCache, ResultCache


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "alphamatte_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "alphamatte_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
        )
        self.inference = Histogram(
            "alphamatte_inference_seconds",
            "Model time per image",
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8),
        )
        self.credits = Counter(
            "alphamatte_credits_charged", "Credits charged", registry=self.registry
        )
        self.cache = Counter(
            "alphamatte_result_cache", "Result cache lookups", ["outcome"], registry=self.registry
        )


@dataclass
class ServerState:
    settings: Settings
    db: Engine
    limiter: RateLimiter
    executor: BoundedExecutor
    metrics: Metrics
    memory: MemoryBudget
    results: ResultCache = field(default_factory=NoResultCache)
    recent_keys: RecentKeys = field(default_factory=lambda: RecentKeys(ttl_s=0))
    models: ModelPool | None = None  # set once the default model is loaded

    @property
    def matter(self) -> Matter | None:
        """The default model, when loaded."""
        return self.models.peek() if self.models is not None else None
