"""One way to build a connector with the rate limiter, circuit breaker and HTTP client its
workers share.

Each system only *declares* what differs (``Shared``): its published limits, what the
system counts them per (a Xero tenant, a SYSPRO company on its server, one KashFlow
login or Salesforce connection) and what one circuit breaker covers. ``connector_factory``
turns a connector class and its declaration into the factory ``(config, tokens, *, redis,
**options)`` that ``connectors.registry`` registers and ``connectors.configs`` calls.

Everything shared goes through Redis, so all workers of all machines count against the
same limit and see the same open breaker. Without Redis (a test, a one-off script) a
connector runs unlimited and without a breaker. Plain Python: no Django.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from connectors.base import ConnectionConfig, Connector, TokenStore
from connectors.circuit import CircuitBreaker, circuit_breaker
from connectors.http import HttpClient
from connectors.ratelimit import RateLimiter, RateLimits

if TYPE_CHECKING:
    from redis import Redis

Scope = Callable[[ConnectionConfig, TokenStore], str]
"""What a limit or breaker is shared per, as the part of its Redis key after the system."""

C = TypeVar("C", bound=Connector)


def per_connection(config: ConnectionConfig, tokens: TokenStore) -> str:
    """One connection: the default scope, and the breaker's everywhere (a connection is
    what fails: its address, its credentials)."""
    return config.connection_id


@dataclass(frozen=True)
class Shared:
    """A system's declaration of what its workers share.

    ``limits`` are the published defaults, or for a system that publishes none a function
    of the connection (what its operator set); a connection's ``settings["rate_limits"]``
    overrides any of them (a plan with other limits). ``label`` names the system in the
    breaker's messages to a finance user.
    """

    label: str
    limits: RateLimits | Callable[[ConnectionConfig], RateLimits]
    limit_scope: Scope = per_connection
    breaker_scope: Scope = per_connection

    def limiter(
        self, system: str, config: ConnectionConfig, tokens: TokenStore, redis: Redis | None
    ) -> RateLimiter | None:
        """The limiter every worker of this scope shares; None without Redis.

        ``rate_limit_max_wait`` (seconds a call may wait for a permit before the job is
        rescheduled instead) and ``rate_limit_time_scale`` (benchmarks: 0.1 makes a minute
        6 seconds) come from the connection's settings.
        """
        if redis is None:
            return None
        settings = config.settings
        limits = self.limits(config) if callable(self.limits) else self.limits
        return RateLimiter(
            redis,
            f"{system}:{self.limit_scope(config, tokens)}",
            limits.overridden_by(settings),
            max_wait=float(settings.get("rate_limit_max_wait", 5.0)),
            time_scale=float(settings.get("rate_limit_time_scale", 1.0)),
        )

    def breaker(
        self, system: str, config: ConnectionConfig, tokens: TokenStore, redis: Redis | None
    ) -> CircuitBreaker | None:
        """The circuit breaker every worker of this scope shares; None without Redis."""
        return circuit_breaker(
            redis,
            f"{system}:{self.breaker_scope(config, tokens)}",
            label=self.label,
            settings=config.settings,
        )


class ConnectorFactory(Generic[C]):
    """``(config, tokens, *, redis=None, **options) -> connector``, built from a declaration.

    ``options`` go to the connector's constructor as they are (a ``retry`` policy, a
    ``session``), so a test builds a connector exactly as a worker does. ``background``
    (a reconciliation's reads) gives it the lower-priority share of the same limiter
    (``RateLimiter.share``): the connection's ``background_share`` of each limit (default
    half) and ``background_max_wait`` seconds to wait for a permit (default 600).
    """

    def __init__(self, connector: type[C], shared: Shared) -> None:
        self.connector = connector
        self.shared = shared

    def __call__(
        self,
        config: ConnectionConfig,
        tokens: TokenStore,
        *,
        redis: Redis | None = None,
        background: bool = False,
        **options: Any,
    ) -> C:
        system = self.connector.system
        limiter = self.shared.limiter(system, config, tokens, redis)
        if background and limiter is not None:
            settings = config.settings
            limiter = limiter.share(
                float(settings.get("background_share", 0.5)),
                max_wait=float(settings.get("background_max_wait", 600.0)),
            )
        return self.connector(
            config,
            tokens,
            limiter,
            breaker=self.shared.breaker(system, config, tokens, redis),
            **options,
        )


def connector_factory(connector: type[C], shared: Shared) -> ConnectorFactory[C]:
    """The factory a system registers: its connector class with its declaration."""
    return ConnectorFactory(connector, shared)


def http_client(
    connector: Connector, base_url: str, *, limited: bool = True, **hooks: Any
) -> HttpClient:
    """An HTTP client for ``connector``'s calls, sharing its circuit breaker and (unless
    ``limited`` is False: a sign-in the system does not count) its rate limiter; ``hooks``
    are the system's own (auth headers, error words, rate-limit headers)."""
    return HttpClient(
        base_url,
        limiter=connector.limiter if limited else None,
        breaker=connector.breaker,
        **hooks,
    )
