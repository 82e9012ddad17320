from __future__ import annotations

import threading
import time

from connectors.base import ConnectionConfig, InMemoryTokenStore, Tokens, WriteOutcome
from connectors.errors import ErrorKind


def test_config_repr_hides_secrets() -> None:
    config = ConnectionConfig(
        system="xero",
        connection_id="c1",
        base_url="http://x",
        secrets={"client_secret": "hunter2"},
    )
    assert "hunter2" not in repr(config)
    assert "client_secret" in repr(config)


def test_tokens_repr_hides_tokens() -> None:
    tokens = Tokens("access-abc", "refresh-xyz", expires_at=10.0)
    assert "abc" not in repr(tokens)
    assert "xyz" not in repr(tokens)
    assert tokens.expires_within(60, now=0.0)
    assert not tokens.expires_within(5, now=0.0)


def test_refresh_locked_serialises_rotation() -> None:
    """Eight threads racing to refresh spend the refresh token once."""
    store = InMemoryTokenStore(Tokens("a0", "r0", expires_at=0.0))
    spent: list[str] = []

    def refresh(current: Tokens | None) -> Tokens:
        assert current is not None
        if not current.expires_within(60, now=time.time()):
            return current  # another thread refreshed meanwhile
        spent.append(current.refresh_token or "")
        time.sleep(0.01)
        return Tokens("a1", "r1", expires_at=time.time() + 1800)

    threads = [threading.Thread(target=store.refresh_locked, args=(refresh,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert spent == ["r0"]
    assert store.saves == 1
    assert store.load() == Tokens("a1", "r1", expires_at=store.load().expires_at)  # type: ignore[union-attr]


def test_outcomes() -> None:
    assert WriteOutcome.created("id1").ok
    failed = WriteOutcome.failed(ErrorKind.DATA, "bad", "Fix it", raw={"x": 1})
    assert not failed.ok
    assert failed.kind is ErrorKind.DATA
