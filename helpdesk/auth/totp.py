"""Pure two-factor pieces: TOTP secrets and codes (RFC 6238, pyotp), the QR code (segno), recovery codes.

No Flask, no database: auth/two_factor.py stores what these make and decides what they mean.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

import pyotp
import segno

#: the name the authenticator app shows next to the code
ISSUER = "专项资金客服工单"
STEP_SECONDS = 30
#: codes of the previous and the next step are accepted too: phones' clocks drift by a few seconds
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
#: no 0/o, 1/l/i: codes are copied from paper; 16 letters of 31 ≈ 79 bits, enough for a plain hash
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_GROUPS, RECOVERY_GROUP_LEN = 4, 4

_SIX_DIGITS = re.compile(r"[0-9]{6}")


def new_secret() -> str:
    """A fresh base32 secret (160 bits, as RFC 4226 recommends)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as an inline <svg> element, drawn here: no image service, no script."""
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff", border=4)


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def step_at(timestamp: float) -> int:
    """The TOTP time step (counter) of a Unix time."""
    return int(timestamp) // STEP_SECONDS


def looks_like_totp(code: str) -> bool:
    """Six ASCII digits once spaces are removed: a code from the app (anything else may be a recovery code)."""
    return bool(_SIX_DIGITS.fullmatch(_compact(code)))


def matching_step(secret: str, code: str, timestamp: float, last_step: int | None) -> int | None:
    """The time step whose code `code` is, within the drift window and after `last_step`; else None.

    A step at or before `last_step` was already used for a login: refusing it stops a replayed code.
    """
    code = _compact(code)
    if not _SIX_DIGITS.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    now = step_at(timestamp)
    for step in sorted(range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1), key=lambda s: abs(s - now)):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Fresh recovery codes, shown to the user once, e.g. "k7mq-2wpa-x9cd-h4rt"."""
    return [
        "-".join(
            "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_GROUP_LEN))
            for _ in range(RECOVERY_GROUPS)
        )
        for _ in range(count)
    ]


def recovery_code_hash(code: str) -> str:
    """The stored form of a recovery code: case, spaces and dashes do not matter."""
    return hashlib.sha256(_compact(code).lower().replace("-", "").encode()).hexdigest()


def _compact(code: str) -> str:
    return "".join(code.split())
