"""Settings from ``ALPHAMATTE_*`` environment variables, validated once at start-up."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from alphamatte.home import default_home, default_models_dir

__all__ = ["Settings", "default_home", "default_models_dir"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ALPHAMATTE_", extra="ignore")

    home: Path = Field(default_factory=default_home)
    model: str = "isnet-general-use"
    # Every model this server serves, comma-separated, the first the default (unset: model).
    # Loaded when first asked for, within memory_budget_mb (server/models.py).
    models: str | None = None
    # Credits per image by model, "birefnet-general=2,u2netp=0.5" (unset: the catalogue's).
    model_prices: str | None = None
    max_side: int = Field(default=1024, ge=32, le=1024)
    quality: Literal["fast", "best"] = "fast"
    threads: int | None = Field(default=None, ge=1)
    backend: Literal["auto", "onnxruntime", "openvino", "cuda"] = "auto"  # engine/backends.py
    # What a GPU computes in: the published fp16 maths, or the widened fp32 graph. Passed to
    # the engine's loader by alphamatte.runtime, like every engine setting.
    gpu_precision: Literal["fp16", "f32"] = "fp16"
    # What a CPU computes in: auto (measured on this machine among the precisions within the
    # budget, engine/selection.py), or a pin: f32, int8 (engine/quantize.py) or bf16
    # (OpenVINO). Passed like gpu_precision.
    cpu_precision: Literal["auto", "f32", "int8", "bf16"] = "auto"
    # On a GPU, concurrent requests of one canvas size may run as one batch of up to batch_size
    # images; the first waits at most batch_wait_ms for company (engine/batching.py). Off by
    # default: on an H100 the batcher delivered fewer images/s than single runs (docs/gpu.md).
    batch_size: int = Field(default=1, ge=1, le=64)
    batch_wait_ms: float = Field(default=5.0, ge=0, le=1000)

    max_input_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    # remove.bg's endpoint takes larger uploads, as remove.bg does (22 MB).
    removebg_max_input_bytes: int = Field(default=22 * 1024 * 1024, ge=1)
    # Hosts remove.bg's image_url may be fetched from (comma-separated, *.example.com for
    # subdomains); empty, the default: image_url is refused. server/url_fetch.py.
    removebg_url_hosts: str = ""
    removebg_url_timeout_s: float = Field(default=15.0, gt=0, le=120)
    # remove.bg's POST /v1.0/improve: submissions kept per key per 24 hours (0 turns it off).
    improve_daily_cap: int = Field(default=50, ge=0)
    # ... and at most this many megabytes of images per key per 24 hours.
    improve_daily_mb: int = Field(default=50, ge=0)
    max_pixels: int = Field(default=50_000_000, ge=1)
    # A request body not fully arrived after this long is answered 408 and its connection
    # closed (10 MB at 2 Mbit/s takes 40 s).
    body_timeout_s: float = Field(default=60.0, gt=0)

    database_url: str | None = None
    redis_url: str | None = None
    rate_limit: str = "7/minute"  # requests per key on the withoutbg endpoints
    # remove.bg's rule on its endpoints: megapixels per key (each image its megapixels, rounded
    # up, at least 1): 500 one-megapixel images a minute, 20 of 25 MP.
    removebg_rate_limit: str = "500/minute"
    queue_size: int = Field(default=16, ge=1)
    # Requests are admitted by the memory their decoded pixels need (see server/admission.py);
    # unset: half of the machine's (or the container's) memory. What does not fit waits up to
    # memory_wait_s, then gets 503 + Retry-After.
    memory_budget_mb: int | None = Field(default=None, ge=64)
    memory_wait_s: float = Field(default=30.0, ge=0)
    result_cache_mb: int = Field(default=64, ge=0)  # 0 turns the result cache off
    result_cache_ttl_s: int = Field(default=3600, ge=1)  # Redis entries only

    # A reservation this old belongs to a request that died with its process: refund it.
    # Must exceed the longest request; the reaper runs every reaper_interval_s on every replica.
    reservation_timeout_s: int = Field(default=600, ge=1)
    reaper_interval_s: float = Field(default=60.0, gt=0)
    # Credits added by a top-up (or given at creation without a date) stay valid this long;
    # unset: they do not expire unless a date is given.
    credit_validity_days: int | None = Field(default=None, ge=1, le=100 * 365)
    idempotency_ttl_s: int = Field(default=24 * 3600, ge=1)
    admin_token: str | None = None  # enables /admin/*; unset = refused
    # Proxies whose X-Forwarded-For is believed (uvicorn's forwarded_allow_ips), comma-separated;
    # empty: none, the peer's address counts. "*" only inside a private network where nothing
    # but the load balancer can reach the replicas.
    forwarded_allow_ips: str = ""
    # Failed authentications per client address and presented key prefix, then 429 for that
    # pair until the window moves (other keys from the same address are not affected).
    auth_failure_limit: str = "20/minute"
    # How long the image endpoints trust a key that authenticated (0: look it up every time).
    # Revocation still stops spending at once (the reservation checks it); a rate limit changed
    # by another process applies within this time.
    key_cache_s: float = Field(default=5.0, ge=0, le=3600)

    @field_validator("model_prices")
    @classmethod
    def _prices(cls, value: str | None) -> str | None:
        """A price is a number of credits, 0 or more: a negative one would mint credits."""
        for item in (value or "").split(","):
            if not item.strip():
                continue
            name, sign, price = item.partition("=")
            try:
                amount = float(price)
            except ValueError:
                amount = float("nan")
            if not sign or not name.strip() or not amount >= 0 or amount == float("inf"):
                raise ValueError(
                    f"{item.strip()!r}: each price is name=credits with credits 0 or more"
                )
        return value

    @field_validator("home")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def credit_validity(self) -> timedelta | None:
        days = self.credit_validity_days
        return timedelta(days=days) if days else None

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'alphamatte.db'}"
