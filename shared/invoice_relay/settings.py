"""Typed environment of the Lambda functions, validated once per cold start (see `settings()`)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, Field, ValidationError

from .errors import ConfigurationError


class Settings(BaseModel):
    """Environment variables set by template.yaml (and by the local runner from the same template)."""

    table_name: str = Field(alias="TABLE_NAME", min_length=1)
    bucket_name: str = Field(alias="BUCKET_NAME", min_length=1)
    delivery_queue_url: str | None = Field(default=None, alias="DELIVERY_QUEUE_URL")
    idempotency_table_name: str | None = Field(default=None, alias="IDEMPOTENCY_TABLE_NAME")
    stage: str = Field(default="dev", alias="STAGE")
    export_link_ttl_seconds: int = Field(default=7 * 24 * 3600, alias="EXPORT_LINK_TTL_SECONDS", gt=0)
    run_log_ttl_days: int = Field(default=90, alias="RUN_LOG_TTL_DAYS", gt=0)
    secret_cache_seconds: int = Field(default=300, alias="SECRET_CACHE_SECONDS", ge=0)


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The validated settings; read lazily so importing a handler never fails or touches the network."""
    import os

    try:
        return Settings.model_validate(dict(os.environ))
    except ValidationError as exc:
        missing = ", ".join(str(e["loc"][0]) for e in exc.errors())
        raise ConfigurationError(f"invalid or missing environment variables: {missing}") from exc
