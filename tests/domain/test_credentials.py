"""Staff passwords (Argon2id, with the scrypt hashes of older stores still accepted),
tracking numbers and sessions."""

from __future__ import annotations

import hashlib
import secrets

import pytest
from argon2 import PasswordHasher, Type
from hypothesis import given, settings
from hypothesis import strategies as st

from gridportal.domain import credentials
from gridportal.domain.credentials import (
    ARGON2_MEMORY_KIB,
    ARGON2_PARALLELISM,
    ARGON2_TIME_COST,
    Keys,
    format_tracking,
    hash_password,
    needs_rehash,
    new_tracking,
    normalise_tracking,
    verify_password,
)

PASSWORD = "correct horse battery"


def parameters(stored: str) -> dict[str, int]:
    """The m, t, p an Argon2 hash carries: "$argon2id$v=19$m=…,t=…,p=…$salt$hash"."""
    _, scheme, _, params, _, _ = stored.split("$")
    assert scheme == "argon2id"
    return {k: int(v) for k, v in (part.split("=") for part in params.split(","))}


def legacy_scrypt(password: str) -> str:
    """A hash as the portal wrote them before Argon2 (scrypt, n=2**14, r=8, p=1)."""
    salt = secrets.token_bytes(16)
    derived = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${derived.hex()}"


def test_a_password_round_trips_through_argon2id() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$v=19$")
    assert PASSWORD not in stored
    assert verify_password(PASSWORD, stored)
    assert not verify_password("correct horse batterY", stored)
    assert not verify_password("", stored)
    assert hash_password(PASSWORD) != stored  # a fresh salt every time
    assert not needs_rehash(stored)


def test_the_parameters_are_in_the_hash_and_at_least_owasps_minimum() -> None:
    assert parameters(hash_password(PASSWORD)) == {
        "m": ARGON2_MEMORY_KIB,
        "t": ARGON2_TIME_COST,
        "p": ARGON2_PARALLELISM,
    }
    # OWASP Password Storage Cheat Sheet: Argon2id with m=19 MiB, t=2, p=1 at least.
    assert ARGON2_MEMORY_KIB >= 19 * 1024 and ARGON2_TIME_COST >= 2


@pytest.mark.parametrize(
    ("time_cost", "memory_cost", "parallelism"),
    [
        (1, 8 * 1024, 1),  # weaker than today's
        (3, 12 * 1024, 2),  # just different
    ],
)
def test_a_hash_with_other_parameters_verifies_and_asks_to_be_rehashed(
    time_cost: int, memory_cost: int, parallelism: int
) -> None:
    hasher = PasswordHasher(time_cost, memory_cost, parallelism, type=Type.ID)
    stored = hasher.hash(PASSWORD)
    assert verify_password(PASSWORD, stored)
    assert not verify_password("wrong", stored)
    assert needs_rehash(stored)
    assert not needs_rehash(hash_password(PASSWORD))


def test_an_argon2i_hash_verifies_and_is_upgraded_to_argon2id() -> None:
    stored = PasswordHasher(type=Type.I).hash(PASSWORD)
    assert verify_password(PASSWORD, stored)
    assert needs_rehash(stored)


def test_a_legacy_scrypt_hash_verifies_and_asks_to_be_rehashed() -> None:
    stored = legacy_scrypt(PASSWORD)
    assert verify_password(PASSWORD, stored)
    assert not verify_password("wrong", stored)
    assert needs_rehash(stored)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain text",
        "scrypt$zz$00",  # not hex
        "scrypt$00",  # too few parts
        "$argon2id$v=19$m=19456,t=2,p=1$broken",
        "$argon2id$",
        "$2b$12$abcdefghijklmnopqrstuv",  # someone else's bcrypt
    ],
)
def test_a_malformed_hash_never_verifies_and_asks_to_be_rehashed(stored: str) -> None:
    assert not verify_password(PASSWORD, stored)
    assert needs_rehash(stored)


@settings(max_examples=10, deadline=None)  # each example hashes: about 20 ms
@given(st.text(max_size=80))
def test_any_password_verifies_only_itself(password: str) -> None:
    stored = hash_password(password)
    assert verify_password(password, stored)
    assert not verify_password(password + "x", stored)


# ----------------------------------------------------------- tracking, sessions
def test_tracking_numbers_are_twelve_digits_without_a_leading_zero() -> None:
    for _ in range(50):
        tracking = new_tracking()
        assert len(tracking) == credentials.TRACKING_DIGITS and tracking.isdigit()
        assert tracking[0] != "0"


@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_a_tracking_number_survives_formatting_and_normalising(tracking: str) -> None:
    assert normalise_tracking(format_tracking(tracking)) == tracking
    assert normalise_tracking(" " + tracking[:4] + " - " + tracking[4:]) == tracking


def test_sessions_are_signed_and_expire() -> None:
    keys = Keys(b"server secret")
    token = keys.sign_session("dispatch-01", now=1000.0)
    assert keys.open_session(token, now=1000.0 + credentials.SESSION_SECONDS) == "dispatch-01"
    assert keys.open_session(token, now=1001.0 + credentials.SESSION_SECONDS) is None
    assert Keys(b"another secret").open_session(token, now=1000.0) is None
    assert keys.open_session(token[:-1] + ("0" if token[-1] != "0" else "1")) is None
    assert keys.open_session("garbage") is None
