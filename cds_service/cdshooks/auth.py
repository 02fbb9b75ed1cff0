"""CDS Hooks 2.0 client authentication (conformance section L): the EHR's JWT, checked fully.

Signature (asymmetric algorithms only), `kid`, `typ`, an allow-list of issuers each with its key set
(a JWKS URL or a local JWKS file), `jku` only when that issuer allows it, `aud` = the URL called, `exp` and
`iat` within a small leeway, a bounded lifetime, and `jti` never seen before within its lifetime.
Failures carry a short reason for the 401 body and the log; never key material or the token.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Protocol

import anyio
import httpx
import jwt
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ACCEPTED_ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
KEY_TYPE = {"ES": "EC", "RS": "RSA", "PS": "RSA"}  # the JWK `kty` each algorithm family verifies with
DEFAULT_ALGORITHMS = ("ES384", "RS384")  # the spec's recommendation (L10)
REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "jti"]


class AuthError(Exception):
    """Why a request is not let in: a short reason, safe to return and to log."""


class TrustedIssuer(BaseModel):
    """One EHR (CDS client) allowed to call the service."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: str
    jwks_url: str | None = None
    jwks_file: Path | None = None
    jku: list[str] = Field(default_factory=list)
    algorithms: list[str] = Field(default_factory=lambda: list(DEFAULT_ALGORITHMS))

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        refused = [a for a in value if a not in ACCEPTED_ALGORITHMS]
        if refused:
            raise ValueError(f"algorithms {refused} are not accepted (none and HMAC never are)")
        return value

    @model_validator(mode="after")
    def _has_keys(self) -> TrustedIssuer:
        if not (self.jwks_url or self.jwks_file or self.jku):
            raise ValueError(f"issuer {self.iss}: needs jwks_url, jwks_file or an allowed jku")
        if self.jwks_url and self.jwks_file:
            raise ValueError(f"issuer {self.iss}: give jwks_url or jwks_file, not both")
        return self


class TrustedIssuers(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issuers: list[TrustedIssuer]


def load_trusted_issuers(path: Path) -> dict[str, TrustedIssuer]:
    """Read the issuers file (YAML or JSON); a relative `jwks_file` is relative to that file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    issuers = TrustedIssuers.model_validate(data).issuers
    resolved = {}
    for issuer in issuers:
        if issuer.jwks_file is not None and not issuer.jwks_file.is_absolute():
            issuer = issuer.model_copy(update={"jwks_file": (path.parent / issuer.jwks_file).resolve()})
        if issuer.jwks_file is not None and not issuer.jwks_file.is_file():
            raise ValueError(f"issuer {issuer.iss}: jwks_file {issuer.jwks_file} not found")
        resolved[issuer.iss] = issuer
    return resolved


class ReplayCache(Protocol):
    def first_use(self, key: str, expires_at: float) -> bool:
        """Record the key; False when it was already recorded and has not expired."""
        ...


class JwksStore:
    """Key sets by source (URL or file), cached; an unknown `kid` re-fetches a URL at most once per interval."""

    def __init__(self, http: httpx.AsyncClient, refresh_seconds: float, max_bytes: int = 256 * 1024) -> None:
        self._http = http
        self._refresh = refresh_seconds
        self._max_bytes = max_bytes
        self._cache: dict[str, tuple[float, dict[str, jwt.PyJWK]]] = {}

    async def key(self, source: str, kid: str) -> jwt.PyJWK | None:
        cached = self._cache.get(source)
        if cached is None or (kid not in cached[1] and time.monotonic() - cached[0] >= self._refresh):
            cached = (time.monotonic(), await self.load(source))
            self._cache[source] = cached
        return cached[1].get(kid)

    async def load(self, source: str) -> dict[str, jwt.PyJWK]:
        """The key set at `source` (a file path or a URL), read now, uncached (`config check` uses it too)."""
        if source.startswith(("https://", "http://")):
            return await self._fetch(source)
        return self._read_file(Path(source))

    @staticmethod
    def _keys(data: Any) -> dict[str, jwt.PyJWK]:
        try:
            key_set = jwt.PyJWKSet.from_dict(data)
        except (jwt.PyJWKSetError, jwt.InvalidKeyError, TypeError, KeyError) as error:
            raise AuthError("the issuer's key set is not a usable JWKS") from error
        return {k.key_id: k for k in key_set.keys if k.key_id}

    def _read_file(self, path: Path) -> dict[str, jwt.PyJWK]:
        return self._keys(json.loads(path.read_text(encoding="utf-8")))

    async def _fetch(self, url: str) -> dict[str, jwt.PyJWK]:
        try:
            async with self._http.stream("GET", url, headers={"Accept": "application/json"}) as response:
                if response.status_code != 200:
                    raise AuthError("the issuer's key set could not be fetched")
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise AuthError("the issuer's key set is too large")
        except httpx.HTTPError as error:
            raise AuthError("the issuer's key set could not be fetched") from error
        try:
            return self._keys(json.loads(body))
        except ValueError as error:
            raise AuthError("the issuer's key set is not JSON") from error


class JwtVerifier:
    def __init__(
        self,
        issuers: dict[str, TrustedIssuer],
        keys: JwksStore,
        replay: ReplayCache,
        leeway_seconds: int,
        max_lifetime_seconds: int,
    ) -> None:
        self._issuers = issuers
        self._keys = keys
        self._replay = replay
        self._leeway = leeway_seconds
        self._max_lifetime = max_lifetime_seconds

    async def verify(self, token: str, audience: str) -> dict[str, Any]:
        """The verified claims, or AuthError saying which check failed."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise AuthError("the bearer token is not a well-formed JWT") from error
        algorithm = header.get("alg")
        if algorithm not in ACCEPTED_ALGORITHMS:
            raise AuthError(f"algorithm {algorithm!r} is not accepted")
        if header.get("typ") != "JWT":
            raise AuthError("the token header needs typ JWT")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("the token header needs a kid")
        issuer = self._issuers.get(str(unverified.get("iss")))
        if issuer is None:
            raise AuthError("unknown issuer")
        if algorithm not in issuer.algorithms:
            raise AuthError(f"algorithm {algorithm} is not accepted for this issuer")
        jku = header.get("jku")
        if jku is not None and jku not in issuer.jku:
            raise AuthError("jku is not on this issuer's allow-list")
        # A pinned key file wins over the jku (the sandbox always sends one): no network needed, nothing to fetch.
        source = str(issuer.jwks_file) if issuer.jwks_file is not None else (jku or issuer.jwks_url or "")
        key = await self._keys.key(source, kid)
        if key is None:
            raise AuthError("unknown key id")
        if key.key_type != KEY_TYPE[algorithm[:2]]:
            raise AuthError(f"the key of this kid is not a key for {algorithm}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                audience=audience,
                issuer=issuer.iss,
                leeway=self._leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as error:
            raise AuthError("token expired") from error
        except jwt.ImmatureSignatureError as error:
            raise AuthError("token issued in the future") from error
        except jwt.InvalidAudienceError as error:
            raise AuthError("token audience is not this endpoint") from error
        except jwt.MissingRequiredClaimError as error:
            raise AuthError(f"token lacks the {error.claim} claim") from error
        except jwt.InvalidSignatureError as error:
            raise AuthError("bad signature") from error
        except (jwt.PyJWTError, ValueError, TypeError) as error:
            raise AuthError("token rejected") from error
        if float(claims["exp"]) - float(claims["iat"]) > self._max_lifetime:
            raise AuthError("token lifetime is longer than allowed")
        seen_key = f"{issuer.iss}|{claims['jti']}"
        first = await anyio.to_thread.run_sync(self._replay.first_use, seen_key, float(claims["exp"]) + self._leeway)
        if not first:
            raise AuthError("token replayed (jti seen before)")
        return claims
