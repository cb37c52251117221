"""Tracking numbers, lookup codes, vote tokens, staff passwords and sessions.

Secrets given to a resident are never stored: only an HMAC with the server's
key is, and checks compare in constant time. A lookup code and a vote token
made for a request with an Idempotency-Key are *derived* from that key, so a
retried request can hand the same codes back without the server ever keeping
them in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

TRACKING_DIGITS = 12  # random, not sequential: ~40 bits, useless without the lookup code
LOOKUP_CODE_DIGITS = 8
VOTE_TOKEN_BYTES = 16  # 128 bits
SESSION_SECONDS = 12 * 3600


def new_tracking() -> str:
    first = secrets.choice("123456789")  # no leading zero: spreadsheets keep the number whole
    return first + "".join(secrets.choice("0123456789") for _ in range(TRACKING_DIGITS - 1))


def normalise_tracking(text: str) -> str:
    """Residents type '2611 4827 3391' or '2611-4827-3391'; keep the digits."""
    return "".join(ch for ch in text if ch.isdigit() and ch.isascii())


def format_tracking(tracking: str) -> str:
    return "-".join(tracking[i : i + 4] for i in range(0, len(tracking), 4))


@dataclass(frozen=True)
class Keys:
    """The server's secret, and everything derived from it."""

    secret: bytes

    def digest(self, purpose: str, value: str) -> str:
        return hmac.new(self.secret, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def matches(self, purpose: str, value: str, stored: str) -> bool:
        return hmac.compare_digest(self.digest(purpose, value), stored)

    def public_id(self, tracking: str) -> str:
        """The id on the public site: an HMAC, so it cannot be turned back into the tracking."""
        raw = hmac.new(self.secret, b"public\x00" + tracking.encode(), hashlib.sha256).digest()
        return base64.b32encode(raw).decode().lower()[:12]

    def resident_codes(self, idempotency_key: str | None) -> tuple[str, str]:
        """(lookup code, vote token) for a new case: random, or derived from the request key."""
        if idempotency_key is None:
            code = "".join(secrets.choice("0123456789") for _ in range(LOOKUP_CODE_DIGITS))
            return code, secrets.token_urlsafe(VOTE_TOKEN_BYTES)
        seed = hmac.new(self.secret, b"codes\x00" + idempotency_key.encode(), hashlib.sha256)
        raw = seed.digest()
        code = str(int.from_bytes(raw[:8], "big") % 10**LOOKUP_CODE_DIGITS).zfill(
            LOOKUP_CODE_DIGITS
        )
        token = base64.urlsafe_b64encode(raw[8 : 8 + VOTE_TOKEN_BYTES]).decode().rstrip("=")
        return code, token

    # Staff sessions: a signed, expiring bearer token; the staff record is re-read per request
    # so a disabled account stops working at once.
    def sign_session(self, username: str, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + SESSION_SECONDS)
        body = base64.urlsafe_b64encode(json.dumps([username, expires]).encode()).decode()
        return f"{body}.{self.digest('session', body)}"

    def open_session(self, token: str, now: float | None = None) -> str | None:
        body, _, signature = token.partition(".")
        if not body or not self.matches("session", body, signature):
            return None
        try:
            username, expires = json.loads(base64.urlsafe_b64decode(body.encode()))
        except (ValueError, TypeError):
            return None
        if (now if now is not None else time.time()) > expires:
            return None
        return str(username)


# Staff passwords: scrypt with a per-password salt (memory-hard; stdlib only).
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    derived = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${salt.hex()}${derived.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_hex, hash_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    derived = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), dklen=32, **_SCRYPT)
    return hmac.compare_digest(derived.hex(), hash_hex)
