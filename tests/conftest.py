"""Fixtures shared by every test package: users in each role, logged-in clients."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.test import Client

from tests.factories import UserFactory

TEST_ENCRYPTION_KEY = f"test={Fernet.generate_key().decode()}"


@pytest.fixture(autouse=True)
def encryption_keys(settings):
    """The test runner turns DEBUG off, so the development key does not apply."""
    if not settings.CLARITY_ENCRYPTION_KEYS:
        settings.CLARITY_ENCRYPTION_KEYS = [TEST_ENCRYPTION_KEY]


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True)


@pytest.fixture
def consultant(db):
    return UserFactory(username="consultant1", role="Consultant")


@pytest.fixture
def finance(db):
    return UserFactory(username="finance1", role="Finance")


@pytest.fixture
def operator(db):
    return UserFactory(username="operator1", role="Operator")


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client(superuser) -> Client:
    return _client_for(superuser)


@pytest.fixture
def consultant_client(consultant) -> Client:
    return _client_for(consultant)


@pytest.fixture
def finance_client(finance) -> Client:
    return _client_for(finance)


@pytest.fixture
def operator_client(operator) -> Client:
    return _client_for(operator)
