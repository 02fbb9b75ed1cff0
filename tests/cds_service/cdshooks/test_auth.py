"""Client authentication (issue 5; conformance L3-L11): every JWT failure mode has its own test."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cds_service.api.app import create_app
from cds_service.cdshooks.auth import load_trusted_issuers
from cds_service.knowledge.loader import Knowledge
from cds_service.settings import Settings
from tests.builders import request
from tests.conftest import check_every_response

BASE = "https://cds.example.org"
ISS = "https://ehr.example.org"
URL_ISS = "https://ehr2.example.org"
JWKS_URL = "https://keys.example.org/jwks.json"
JKU = "https://ehr.example.org/jku.json"
JKU_ISS = "https://ehr3.example.org"  # an issuer known by its allowed jku only
PV_PATH = "/cds-services/vitd-mg-patient-view"
EC_KEY = ec.generate_private_key(ec.SECP384R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_EC_KEY = ec.generate_private_key(ec.SECP384R1())


def _jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.ECAlgorithm if alg.startswith("ES") else jwt.algorithms.RSAAlgorithm
    return {**algorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": alg, "use": "sig"}


def token(
    key: Any = EC_KEY,
    alg: str = "ES384",
    kid: str = "ec-1",
    *,
    aud: str = BASE + PV_PATH,
    iss: str = ISS,
    drop: tuple[str, ...] = (),
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    now = int(time.time())
    payload = {"iss": iss, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4()), **claims}
    for name in drop:
        payload.pop(name, None)
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, **(headers or {})})


class KeyServer:
    """JWKS URLs answered in-process; counts fetches."""

    def __init__(self) -> None:
        self.fetches: list[str] = []
        self.sets: dict[str, dict[str, Any]] = {
            JWKS_URL: {"keys": [_jwk(EC_KEY, "url-1", "ES384")]},
            JKU: {"keys": [_jwk(EC_KEY, "jku-1", "ES384")]},
        }

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.fetches.append(str(req.url))
        if str(req.url) in self.sets:
            return httpx.Response(200, json=self.sets[str(req.url)])
        return httpx.Response(404)


@pytest.fixture
def issuers_file(tmp_path: Path) -> Path:
    (tmp_path / "jwks.json").write_text(
        json.dumps({"keys": [_jwk(EC_KEY, "ec-1", "ES384"), _jwk(RSA_KEY, "rsa-1", "RS384")]})
    )
    (tmp_path / "issuers.yaml").write_text(
        yaml.safe_dump(
            {
                "issuers": [
                    {"iss": ISS, "jwks_file": "jwks.json", "jku": [JKU]},
                    {"iss": URL_ISS, "jwks_url": JWKS_URL, "algorithms": ["ES384"]},
                    {"iss": JKU_ISS, "jku": [JKU]},
                ]
            }
        )
    )
    return tmp_path / "issuers.yaml"


@pytest.fixture
def keys() -> KeyServer:
    return KeyServer()


@pytest.fixture
async def secured(knowledge: Knowledge, issuers_file: Path, keys: KeyServer) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        auth="required",
        trusted_issuers_file=issuers_file,
        public_base_url=BASE,
        jwks_refresh_seconds=60,
        pseudonym_key="a-test-secret",
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(keys)) as outbound:
        app = create_app(settings, knowledge=knowledge, http_client=outbound)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://internal:8080",
                event_hooks={"response": [check_every_response]},
            ) as client,
        ):
            yield client


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def call(client: httpx.AsyncClient, value: str | None, path: str = PV_PATH) -> httpx.Response:
    headers = bearer(value) if value is not None else {}
    if path == "/cds-services":
        return await client.get(path, headers=headers)
    return await client.post(path, json=request(), headers=headers)


async def rejected(client: httpx.AsyncClient, value: str | None, reason: str, path: str = PV_PATH) -> None:
    response = await call(client, value, path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert reason in response.json()["issue"][0]["diagnostics"]
    if value:
        assert value not in response.text


@pytest.mark.parametrize(("key", "alg", "kid"), [(EC_KEY, "ES384", "ec-1"), (RSA_KEY, "RS384", "rsa-1")])
async def test_valid_token_is_let_in(secured: httpx.AsyncClient, key: Any, alg: str, kid: str) -> None:
    """L4-L6, L10: ES384 and RS384 tokens from a trusted issuer, aud = the URL called (public base + path)."""
    assert (await call(secured, token(key, alg, kid))).status_code == 200


async def test_discovery_needs_a_token_for_its_own_url(secured: httpx.AsyncClient) -> None:
    """B8, L6: discovery's aud is {base}/cds-services."""
    assert (await call(secured, token(aud=BASE + "/cds-services"), "/cds-services")).status_code == 200
    await rejected(secured, None, "bearer token", "/cds-services")


async def test_health_needs_no_token(secured: httpx.AsyncClient) -> None:
    assert (await secured.get("/healthz")).status_code == 200


async def test_missing_token(secured: httpx.AsyncClient) -> None:
    await rejected(secured, None, "a bearer token (the EHR's JWT) is required")


async def test_malformed_token(secured: httpx.AsyncClient) -> None:
    await rejected(secured, "not.a.jwt", "not a well-formed JWT")


async def test_alg_none_is_refused(secured: httpx.AsyncClient) -> None:
    """L9."""
    now = int(time.time())
    unsigned = jwt.encode(
        {"iss": ISS, "aud": BASE + PV_PATH, "exp": now + 60, "iat": now, "jti": "n1"},
        "",
        algorithm="none",
        headers={"kid": "ec-1"},
    )
    await rejected(secured, unsigned, "algorithm 'none' is not accepted")


async def test_hmac_is_refused(secured: httpx.AsyncClient) -> None:
    """L9: a symmetric algorithm is never accepted, whatever the secret."""
    await rejected(secured, token("a-shared-secret-of-32-bytes-or-more!", "HS256"), "algorithm 'HS256' is not accepted")


async def test_kid_is_required(secured: httpx.AsyncClient) -> None:
    """L4."""
    now = int(time.time())
    no_kid = jwt.encode(
        {"iss": ISS, "aud": BASE + PV_PATH, "exp": now + 60, "iat": now, "jti": "k1"}, EC_KEY, algorithm="ES384"
    )
    await rejected(secured, no_kid, "needs a kid")


async def test_typ_must_be_jwt(secured: httpx.AsyncClient) -> None:
    """L4: typ is REQUIRED, fixed JWT."""
    await rejected(secured, token(headers={"typ": "JOSE"}), "typ JWT")


async def test_unknown_issuer(secured: httpx.AsyncClient) -> None:
    """L7."""
    await rejected(secured, token(iss="https://rogue.example.org"), "unknown issuer")


async def test_algorithm_not_allowed_for_the_issuer(secured: httpx.AsyncClient) -> None:
    """L10: each issuer's algorithms are explicit; RS256 is not in the default list."""
    await rejected(secured, token(RSA_KEY, "RS256", "rsa-1"), "not accepted for this issuer")


async def test_jku_not_on_the_allow_list_is_not_fetched(secured: httpx.AsyncClient, keys: KeyServer) -> None:
    """L7, L8: a jku the issuer does not allow is refused without fetching it."""
    await rejected(
        secured,
        token(headers={"jku": "https://attacker.example.com/jwks.json"}),
        "jku is not on this issuer's allow-list",
    )
    assert keys.fetches == []


async def test_allowed_jku_is_used(secured: httpx.AsyncClient, keys: KeyServer) -> None:
    """L8: for an issuer without a pinned key set, an allowed jku is where the key comes from."""
    assert (await call(secured, token(kid="jku-1", iss=JKU_ISS, headers={"jku": JKU}))).status_code == 200
    assert keys.fetches == [JKU]


async def test_pinned_key_file_wins_over_an_allowed_jku(secured: httpx.AsyncClient, keys: KeyServer) -> None:
    """Issue 13 finding 8, L8: the sandbox always sends a jku; a pinned jwks_file is used and nothing is fetched.

    Sandbox-shaped: ES384, typ JWT, kid, jku on the issuer's list (as deploy/trusted-issuers.example.yaml).
    """
    sandbox_shaped = token(kid="ec-1", headers={"jku": JKU, "typ": "JWT"})
    assert (await call(secured, sandbox_shaped)).status_code == 200
    assert keys.fetches == []


async def test_algorithm_of_another_key_type_is_a_401(secured: httpx.AsyncClient) -> None:
    """Issue 13 finding 3: `alg: RS384` with the kid of an EC key was a 500."""
    forged = jwt.encode(
        {"iss": ISS, "aud": BASE + PV_PATH, "exp": int(time.time()) + 60, "iat": int(time.time()), "jti": "x1"},
        RSA_KEY,
        algorithm="RS384",
        headers={"kid": "ec-1"},
    )
    await rejected(secured, forged, "not a key for RS384")


async def test_audience_is_the_configured_base_not_the_host_header(secured: httpx.AsyncClient) -> None:
    """Issue 13 finding 7: Host and X-Forwarded-Proto are the caller's; aud is checked against the base only."""
    response = await secured.post(
        PV_PATH,
        json=request(),
        headers={
            **bearer(token(aud="https://evil.example.org" + PV_PATH)),
            "Host": "evil.example.org",
            "X-Forwarded-Proto": "https",
        },
    )
    assert response.status_code == 401 and "audience" in response.text


async def test_unknown_kid(secured: httpx.AsyncClient) -> None:
    await rejected(secured, token(kid="nobody"), "unknown key id")


async def test_jwks_url_refetched_on_unknown_kid_at_most_once_per_interval(
    secured: httpx.AsyncClient, keys: KeyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key set is cached; an unknown kid (key rotation) re-fetches, but not more than once a minute."""
    assert (await call(secured, token(kid="url-1", iss=URL_ISS))).status_code == 200
    assert (await call(secured, token(kid="url-1", iss=URL_ISS))).status_code == 200
    assert keys.fetches == [JWKS_URL]
    keys.sets[JWKS_URL] = {"keys": [_jwk(EC_KEY, "url-1", "ES384"), _jwk(EC_KEY, "url-2", "ES384")]}
    await rejected(secured, token(kid="url-2", iss=URL_ISS), "unknown key id")  # within the interval: no fetch
    assert keys.fetches == [JWKS_URL]
    later = time.monotonic() + 61
    monkeypatch.setattr(time, "monotonic", lambda: later)  # the clock cds_service.cdshooks.auth reads
    assert (await call(secured, token(kid="url-2", iss=URL_ISS))).status_code == 200
    assert keys.fetches == [JWKS_URL, JWKS_URL]


async def test_bad_signature(secured: httpx.AsyncClient) -> None:
    await rejected(secured, token(OTHER_EC_KEY), "bad signature")


async def test_expired(secured: httpx.AsyncClient) -> None:
    """L5, L11: exp in the past beyond the leeway."""
    now = int(time.time())
    await rejected(secured, token(exp=now - 120, iat=now - 400), "token expired")


async def test_issued_in_the_future(secured: httpx.AsyncClient) -> None:
    now = int(time.time())
    await rejected(secured, token(iat=now + 600, exp=now + 900), "issued in the future")


async def test_token_for_another_service_is_refused(secured: httpx.AsyncClient) -> None:
    """L6: aud must equal the URL being invoked: a token minted for order-sign does not open patient-view."""
    await rejected(secured, token(aud=BASE + "/cds-services/vitd-mg-order-sign"), "audience is not this endpoint")


@pytest.mark.parametrize("claim", ["iss", "aud", "exp", "iat", "jti"])
async def test_required_claims(secured: httpx.AsyncClient, claim: str) -> None:
    """L5: iss, aud, exp, iat and jti are required."""
    reason = "unknown issuer" if claim == "iss" else f"lacks the {claim} claim"
    await rejected(secured, token(drop=(claim,)), reason)


async def test_replayed_jti_is_refused(secured: httpx.AsyncClient) -> None:
    """L11: a jti is accepted once within its lifetime."""
    once = token()
    assert (await call(secured, once)).status_code == 200
    await rejected(secured, once, "replayed")


async def test_lifetime_longer_than_allowed(secured: httpx.AsyncClient) -> None:
    now = int(time.time())
    await rejected(secured, token(exp=now + 7200), "lifetime is longer than allowed")


async def test_logs_hold_no_patient_data_and_no_token(
    secured: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Logs of full requests (one let in, one refused): none of the patient's identifiers, names, birth date, nor the token."""
    good, bad = token(), token(OTHER_EC_KEY)
    with caplog.at_level("DEBUG"):
        assert (await call(secured, good)).status_code == 200
        assert (await call(secured, bad)).status_code == 401
    logged = "\n".join(r.getMessage() + json.dumps(getattr(r, "event", {})) for r in caplog.records)
    assert "invocation" in logged and "unauthorised" in logged
    for secret in (good, bad, good.split(".")[2], "Jansen", "Gerda", "999911120", "1950-04-12", "nl-1"):
        assert secret not in logged


def test_the_sandbox_can_be_trusted_from_the_example_file() -> None:
    """The CDS Hooks sandbox's published JWKS and issuer, configured from deploy/trusted-issuers.example.yaml."""
    example = Path(__file__).resolve().parents[3] / "deploy" / "trusted-issuers.example.yaml"
    issuers = load_trusted_issuers(example)
    sandbox = issuers["https://sandbox.cds-hooks.org"]
    assert sandbox.algorithms == ["ES384"] and sandbox.jku == ["https://sandbox.cds-hooks.org/.well-known/jwks.json"]
    assert sandbox.jwks_file is not None
    key_set = jwt.PyJWKSet.from_json(sandbox.jwks_file.read_text())
    assert [k.key_id for k in key_set.keys] == ["44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"]


@pytest.mark.parametrize(
    ("issuer", "message"),
    [
        ({"iss": "x", "jwks_url": "https://k", "algorithms": ["HS256"]}, "not accepted"),
        ({"iss": "x"}, "needs jwks_url, jwks_file or an allowed jku"),
        ({"iss": "x", "jwks_file": "missing.json"}, "not found"),
    ],
)
def test_bad_issuer_files_stop_startup(tmp_path: Path, issuer: dict[str, Any], message: str) -> None:
    path = tmp_path / "issuers.yaml"
    path.write_text(yaml.safe_dump({"issuers": [issuer]}))
    with pytest.raises(ValueError, match=message):
        load_trusted_issuers(path)


def test_required_auth_without_issuers_stops_startup(knowledge: Knowledge) -> None:
    with pytest.raises(ValueError, match="VITDMG_TRUSTED_ISSUERS_FILE"):
        create_app(Settings(auth="required"), knowledge=knowledge)


def test_required_auth_without_public_base_url_stops_startup(knowledge: Knowledge, issuers_file: Path) -> None:
    """Issue 13 finding 7: without a configured base the aud would be checked against the caller's Host header."""
    settings = Settings(auth="required", trusted_issuers_file=issuers_file, pseudonym_key="a-test-secret")
    with pytest.raises(ValueError, match="VITDMG_PUBLIC_BASE_URL"):
        create_app(settings, knowledge=knowledge)


async def test_disabled_auth_is_said_at_startup_and_on_readyz(
    make_client: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING"):
        client = await make_client(auth="disabled")
        ready = (await client.get("/readyz")).json()
    assert ready["auth"] == "disabled" and "disabled" in ready["warning"]
    assert sum("authentication is disabled" in r.getMessage() for r in caplog.records) >= 2
