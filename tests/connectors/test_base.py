from __future__ import annotations

import threading
import time

from hypothesis import assume, given
from hypothesis import strategies as st

from connectors.base import (
    ConnectionConfig,
    InMemoryTokenStore,
    Tokens,
    WriteOutcome,
    match_text,
    match_word,
)
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


# -- matching: the one comparison of values (#16) -------------------------------------------

_SPACES = st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", "\u2003"])
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@given(_TEXT, st.lists(_SPACES, min_size=2, max_size=2), st.booleans())
def test_match_text_ignores_case_and_spaces(text, around, upper):
    # Case folding is Unicode's (ß is ss) except where a letter's case does not round trip
    # at all (the dotless i upper-cases to I): those are other letters, not other cases.
    assume(all(c.upper().casefold() == c.casefold() == c.lower().casefold() for c in text))
    varied = around[0] + " ".join(text.split()).replace(" ", around[1]) + around[0]
    varied = varied.upper() if upper else varied.lower()
    assert match_text(varied) == match_text(text)
    assert match_text(match_text(text)) == match_text(text), "idempotent"
    assert match_text(text) == match_text(text).strip()
    assert "  " not in match_text(text)


@given(_TEXT)
def test_match_text_tells_different_words_apart(text):
    assert match_text(text + " x") != match_text(text + " y")
    assert match_text(None) == match_text("") == match_text("  ") == ""


@given(_TEXT, st.lists(_SPACES, min_size=2, max_size=2), st.booleans())
def test_a_values_word_is_in_every_spelling_a_system_lowers(text, around, upper):
    """What a broad lookup asks a system for (Contains/LIKE, which lower-case but keep
    spaces) is in every spelling ``match_text`` takes for the value."""
    # Letters whose case changes length or does not round trip (ß, the dotless i) are lowered
    # by a system otherwise than folded by us: documented in match_word, left out here.
    assume(all(c.upper().lower() == c.lower() == c.lower().casefold() for c in text))
    stored = around[0] + " ".join(text.split()).replace(" ", around[1]) + around[0]
    stored = stored.upper() if upper else stored
    assert match_word(text) in stored.lower()
