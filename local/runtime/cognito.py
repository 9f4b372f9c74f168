"""Amazon Cognito, locally: the template's user pools, app clients and groups in the embedded AWS (moto's
cognito-idp, server mode), demo users, and API Gateway's Cognito user-pool authorizer.

- `create_cognito_resources(idp, template, parameters)`: every `AWS::Cognito::UserPool`, `UserPoolClient`
  and `UserPoolGroup` of the template, created from its own Properties (password policy, admin-only sign-up,
  MFA, explicit auth flows, token validities...). Returns logical id → what `Ref` gives: the pool id, the
  client id, the group name. `GetAtt UserPool.Arn` is then `arn:aws:cognito-idp:<region>:123456789012:
  userpool/<pool id>` (local.runtime.template builds it; it is moto's ARN too).
- `seed_demo_users(idp, user_pool_id)`: `demo-admin` (group `admins`) and `demo-viewer` (`viewers`), with
  random passwords that satisfy the pool's policy, permanent (status CONFIRMED: no first-sign-in change).
- `sign_in(...)`: InitiateAuth USER_PASSWORD_AUTH, what the admin page and the CLI do.
- `UserPoolAuthorizer`: what a REST API's COGNITO_USER_POOLS authorizer does with the identity header. The
  ID token (raw, or `Bearer <token>`) must be a JWS signed with a key of the pool's JWKS (moto serves it at
  `<endpoint>/<pool id>/.well-known/jwks.json`; verified with joserfc, moto's own JOSE library), RS256,
  `exp` not passed, `iss` = `https://cognito-idp.<region>.amazonaws.com/<pool id>` of one of the
  authorizer's pools, `token_use` = `id`, and `aud` one of that pool's app clients. Anything else is
  `Unauthorized` (API Gateway: 401 `{"message":"Unauthorized"}`, the function is not invoked).

Claims as the function sees them (`event["requestContext"]["authorizer"]["claims"]`, `api_gateway_claims`):
API Gateway REST hands the token's claims over as a map of strings. Evidence, as far as public material
goes (AWS documents no full example):
  - every value a string: `"email_verified": "true"`, `"auth_time": "1469814773"`; `exp` and `iat` as dates,
    `"exp": "Fri Jul 29 18:52:53 UTC 2016"` (amazon-cognito-identity-js issue #92, an authorizer's output;
    the same shapes in a re:Post question "AWS Cognito Group", 2023: `"exp": "Tue Apr 04 18:39:39 UTC
    2023"`, `"auth_time": "1680629979"`);
  - `cognito:groups`, an array in the token, is one string: `"cognito:groups": "team_manager"` for one
    group (same re:Post question); for several, the names joined by commas, `"group-a,group-b"`
    (openillumi.com, "API Gateway Cognito authorizer JWT claim conversion"; an AWS Chalice maintainer's
    answer in aws/chalice#783 splits the claim on ","). The HTTP API's JWT authorizer differs
    (`"[group-a group-b]"`, under `authorizer.jwt.claims`); that is not this one.
  So here: strings as they are, booleans `true`/`false`, numbers in decimal, `exp`/`iat` as
  `EEE MMM dd HH:mm:ss UTC yyyy`, lists joined by commas without spaces, objects as JSON.

Not emulated: the token's revocation (GlobalSignOut / RevokeToken), AuthorizationScopes (access tokens),
authorizer result caching. moto itself ignores the client's ExplicitAuthFlows and token validities (its
tokens last an hour, which is the template's 60 minutes anyway) and signs every pool's tokens with one key:
a token of another pool passes the signature check locally and is refused on its `iss`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import json
import logging
import re
import secrets
import string
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import boto3
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from local.runtime.template import (
    LOCAL_REGION,
    LOCAL_STACK_NAME,
    resolve_properties,
    resources_of_type,
)

logger = logging.getLogger(__name__)

USER_POOL = "AWS::Cognito::UserPool"
USER_POOL_CLIENT = "AWS::Cognito::UserPoolClient"
USER_POOL_GROUP = "AWS::Cognito::UserPoolGroup"

# The demo operators: role → (username, group).
DEMO_USERS: dict[str, tuple[str, str]] = {
    "admin": ("demo-admin", "admins"),
    "viewer": ("demo-viewer", "viewers"),
}

# CloudFormation property → API parameter, where they differ. Everything else of a resource's Properties is
# passed under its own name when the API has it; what the API lacks is reported and left out.
_POOL_RENAMED = {"UserPoolName": "PoolName"}
_POOL_APPLIED_APART = {"EnabledMfas"}  # SetUserPoolMfaConfig, after the pool exists
# Cognito's password symbols (its documented set).
_SYMBOLS = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-"
_PASSWORD_LENGTH = 24
_JWKS_TIMEOUT_SECONDS = 10.0
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DUMMY_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}


# ---------------------------------------------------------------------------------------------- resources
def create_cognito_resources(
    idp: Any,
    template: Mapping[str, Any],
    parameters: Mapping[str, str],
    *,
    physical: Mapping[str, str] | None = None,
    region: str = LOCAL_REGION,
    name_prefix: str = LOCAL_STACK_NAME,
) -> dict[str, str]:
    """Create the template's user pools, then their app clients, then their groups, in the cognito-idp
    that `idp` (a boto3 client) talks to. Returns logical id → physical id (pool id, client id, group name).

    `physical` holds what other resources already resolve to (for intrinsics in the Properties). A pool,
    client or group of the same name that already exists (shared moto state) is reused as it is.
    """
    created: dict[str, str] = {}
    known = {**(physical or {})}

    def properties_of(resource: Mapping[str, Any]) -> dict[str, Any]:
        return resolve_properties(
            resource.get("Properties", {}), known, parameters, resources=template["Resources"], region=region
        )

    def default_name(logical_id: str) -> str:
        return f"{name_prefix}-{logical_id.lower()}"

    for logical_id, resource in resources_of_type(template, USER_POOL).items():
        created[logical_id] = known[logical_id] = _create_user_pool(
            idp, properties_of(resource), default_name(logical_id)
        )
    for logical_id, resource in resources_of_type(template, USER_POOL_CLIENT).items():
        created[logical_id] = known[logical_id] = _create_user_pool_client(
            idp, properties_of(resource), default_name(logical_id)
        )
    for logical_id, resource in resources_of_type(template, USER_POOL_GROUP).items():
        created[logical_id] = known[logical_id] = _create_group(
            idp, properties_of(resource), default_name(logical_id)
        )
    return created


def _api_request(idp: Any, operation: str, properties: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The properties the API operation takes; the others are logged as not applied locally."""
    members = idp.meta.service_model.operation_model(operation).input_shape.members
    ignored = sorted(set(properties) - set(members))
    if ignored:
        logger.warning("%s: not applied locally (no %s parameter): %s", kind, operation, ", ".join(ignored))
    return {name: value for name, value in properties.items() if name in members}


def _create_user_pool(idp: Any, properties: Mapping[str, Any], default_name: str) -> str:
    renamed = {_POOL_RENAMED.get(name, name): value for name, value in properties.items()}
    renamed.setdefault("PoolName", default_name)
    enabled_mfas = renamed.pop("EnabledMfas", None)
    request = _api_request(idp, "CreateUserPool", renamed, "AWS::Cognito::UserPool")
    existing = _find_user_pool(idp, request["PoolName"])
    if existing is not None:
        return existing
    pool_id: str = idp.create_user_pool(**request)["UserPool"]["Id"]
    if enabled_mfas is not None and request.get("MfaConfiguration", "OFF") != "OFF":
        mfa: dict[str, Any] = {
            "SoftwareTokenMfaConfiguration": {"Enabled": "SOFTWARE_TOKEN_MFA" in enabled_mfas}
        }
        if "SMS_MFA" in enabled_mfas and "SmsConfiguration" in request:
            mfa["SmsMfaConfiguration"] = {"SmsConfiguration": request["SmsConfiguration"]}
        idp.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration=request["MfaConfiguration"], **mfa)
    return pool_id


def _find_user_pool(idp: Any, name: str) -> str | None:
    for page in idp.get_paginator("list_user_pools").paginate(MaxResults=60):
        for pool in page["UserPools"]:
            if pool["Name"] == name:
                return str(pool["Id"])
    return None


def _create_user_pool_client(idp: Any, properties: Mapping[str, Any], default_name: str) -> str:
    request = _api_request(
        idp,
        "CreateUserPoolClient",
        {"ClientName": default_name, **properties},
        "AWS::Cognito::UserPoolClient",
    )
    for page in idp.get_paginator("list_user_pool_clients").paginate(UserPoolId=request["UserPoolId"]):
        for client in page["UserPoolClients"]:
            if client["ClientName"] == request["ClientName"]:
                return str(client["ClientId"])
    return str(idp.create_user_pool_client(**request)["UserPoolClient"]["ClientId"])


def _create_group(idp: Any, properties: Mapping[str, Any], default_name: str) -> str:
    request = _api_request(
        idp, "CreateGroup", {"GroupName": default_name, **properties}, "AWS::Cognito::UserPoolGroup"
    )
    # It may exist already: made by another EmbeddedAWS in this process, from the same template.
    with contextlib.suppress(idp.exceptions.GroupExistsException):
        idp.create_group(**request)
    return str(request["GroupName"])


# ---------------------------------------------------------------------------------------------- users
def strong_password(policy: Mapping[str, Any] | None = None, *, length: int = _PASSWORD_LENGTH) -> str:
    """A random password (secrets module) satisfying a Cognito PasswordPolicy: at least `length` long (and
    at least its MinimumLength), one of each required character class; symbols only when required."""
    policy = policy or {}
    length = max(length, int(policy.get("MinimumLength", 8)))
    classes = [string.ascii_lowercase, string.ascii_uppercase, string.digits]
    if policy.get("RequireSymbols", False):
        classes.append(_SYMBOLS)
    alphabet = "".join(classes)
    characters = [secrets.choice(chosen) for chosen in classes]  # one of each class, whatever the policy
    characters += [secrets.choice(alphabet) for _ in range(length - len(characters))]
    secrets.SystemRandom().shuffle(characters)
    return "".join(characters)


def seed_demo_users(
    idp: Any,
    user_pool_id: str,
    users: Mapping[str, tuple[str, str]] = DEMO_USERS,
) -> dict[str, tuple[str, str]]:
    """Create (or, when they exist, reset) one user per role, in its group, with a new random password that
    satisfies the pool's policy, set permanent. Returns role → (username, password)."""
    policy = idp.describe_user_pool(UserPoolId=user_pool_id)["UserPool"].get("Policies", {})
    seeded = {}
    for role, (username, group) in users.items():
        with contextlib.suppress(idp.exceptions.UsernameExistsException):  # seeded before: reset below
            idp.admin_create_user(UserPoolId=user_pool_id, Username=username, MessageAction="SUPPRESS")
        password = strong_password(policy.get("PasswordPolicy"))
        idp.admin_set_user_password(
            UserPoolId=user_pool_id, Username=username, Password=password, Permanent=True
        )
        idp.admin_add_user_to_group(UserPoolId=user_pool_id, Username=username, GroupName=group)
        seeded[role] = (username, password)
    return seeded


def sign_in(
    endpoint_url: str, client_id: str, username: str, password: str, *, region: str = LOCAL_REGION
) -> dict[str, Any]:
    """InitiateAuth USER_PASSWORD_AUTH on the Cognito at `endpoint_url`: the AuthenticationResult
    (IdToken, AccessToken, RefreshToken, ExpiresIn, TokenType). Unsigned, as a browser calls it."""
    idp = boto3.session.Session().client(
        "cognito-idp", endpoint_url=endpoint_url, region_name=region, **_DUMMY_CREDENTIALS
    )
    answer = idp.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=client_id,
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    if "AuthenticationResult" not in answer:
        raise RuntimeError(f"sign-in of {username} asks for a challenge: {answer.get('ChallengeName')}")
    return dict(answer["AuthenticationResult"])


# ---------------------------------------------------------------------------------------------- authorizer
class Unauthorized(Exception):
    """The token is missing or invalid: API Gateway answers 401 `{"message":"Unauthorized"}`. The reason
    (the exception's message) is for the local log only; API Gateway tells the client nothing more."""


def pool_id_of(user_pool_arn: str) -> tuple[str, str]:
    """(region, pool id) of `arn:aws:cognito-idp:<region>:<account>:userpool/<pool id>`."""
    match = re.fullmatch(r"arn:[^:]+:cognito-idp:([^:]+):[^:]*:userpool/(.+)", user_pool_arn)
    if match is None:
        raise ValueError(f"not a Cognito user pool ARN: {user_pool_arn!r}")
    return match.group(1), match.group(2)


class UserPoolAuthorizer:
    """API Gateway's COGNITO_USER_POOLS authorizer for `user_pool_arns` (SAM's `UserPoolArn`, one or more),
    checking tokens against the Cognito at `endpoint_url` (the embedded AWS).

    `authorize(header_value)` → the claims as API Gateway puts them in the proxy event, or `Unauthorized`.
    `header` is the identity source (SAM `Identity.Header`, default Authorization), `validation_expression`
    SAM's `Identity.ValidationExpression` (a header not matching it is refused before any check).
    `clock` gives the current time in seconds (tests move it).
    """

    def __init__(
        self,
        endpoint_url: str,
        user_pool_arns: Iterable[str],
        *,
        header: str = "Authorization",
        validation_expression: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.pools = dict(pool_id_of(arn)[::-1] for arn in user_pool_arns)  # pool id → region
        if not self.pools:
            raise ValueError("a Cognito authorizer needs at least one user pool")
        self.header = header
        self.validation_expression = re.compile(validation_expression) if validation_expression else None
        self.clock = clock
        self._key_sets: dict[str, KeySet] = {}
        self._client_ids: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def issuer(self, pool_id: str) -> str:
        return f"https://cognito-idp.{self.pools[pool_id]}.amazonaws.com/{pool_id}"

    def authorize(self, header_value: str | None) -> dict[str, str]:
        """Check the identity header's ID token; its claims as API Gateway presents them (all strings)."""
        return api_gateway_claims(self.verify(header_value))

    def verify(self, header_value: str | None) -> dict[str, Any]:
        """Check the identity header's ID token; its claims as the token has them."""
        if not header_value or not header_value.strip():
            raise Unauthorized(f"no {self.header} header")
        if self.validation_expression is not None and not self.validation_expression.fullmatch(header_value):
            raise Unauthorized(f"the {self.header} header does not match the validation expression")
        token = header_value.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        unverified = _unverified_claims(token)
        issuer = unverified.get("iss")
        pool_id = next((pool for pool in self.pools if self.issuer(pool) == issuer), None)
        if pool_id is None:
            raise Unauthorized(f"issuer {issuer!r} is not a user pool of this authorizer")
        try:
            claims = jwt.decode(token, self._key_set(pool_id), algorithms=["RS256"]).claims
        except (JoseError, ValueError) as error:  # bad signature, unknown key, malformed
            raise Unauthorized(f"signature: {error}") from None
        registry = jwt.JWTClaimsRegistry(
            now=int(self.clock()),
            exp={"essential": True},
            iss={"essential": True, "value": self.issuer(pool_id)},
            token_use={"essential": True, "value": "id"},
            aud={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as error:
            raise Unauthorized(f"claims: {error}") from None
        if claims["aud"] not in self._app_clients(pool_id, claims["aud"]):
            raise Unauthorized(f"audience {claims['aud']!r} is not an app client of {pool_id}")
        return claims

    def _key_set(self, pool_id: str) -> KeySet:
        with self._lock:
            if pool_id not in self._key_sets:
                url = f"{self.endpoint_url}/{pool_id}/.well-known/jwks.json"
                # The embedded AWS's loopback URL, built here: never taken from a request.
                with urllib.request.urlopen(url, timeout=_JWKS_TIMEOUT_SECONDS) as response:  # noqa: S310
                    self._key_sets[pool_id] = KeySet.import_key_set(json.load(response))
            return self._key_sets[pool_id]

    def _app_clients(self, pool_id: str, client_id: str) -> set[str]:
        """The pool's app client ids, looked up again when `client_id` is not among those known (a client
        made after the last look)."""
        with self._lock:
            if client_id not in self._client_ids.get(pool_id, set()):
                idp = boto3.session.Session().client(
                    "cognito-idp",
                    endpoint_url=self.endpoint_url,
                    region_name=self.pools[pool_id],
                    **_DUMMY_CREDENTIALS,
                )
                self._client_ids[pool_id] = {
                    client["ClientId"]
                    for page in idp.get_paginator("list_user_pool_clients").paginate(UserPoolId=pool_id)
                    for client in page["UserPoolClients"]
                }
            return self._client_ids[pool_id]


def _unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWS, unverified (to pick the pool whose keys verify it)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthorized("not a JWT")
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        raise Unauthorized("not a JWT") from None
    if not isinstance(payload, dict):
        raise Unauthorized("not a JWT")
    return payload


def api_gateway_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """A token's claims as a REST API's Cognito authorizer hands them to the function (see the module
    docstring): every value a string; `exp` and `iat` as `Fri Jul 29 18:52:53 UTC 2016`; lists (such as
    `cognito:groups`) joined by commas."""
    return {name: _claim_string(name, value) for name, value in claims.items()}


def _claim_string(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if name in ("exp", "iat") and isinstance(value, int | float):
        moment = dt.datetime.fromtimestamp(
            value, dt.UTC
        )  # day and month names in English, whatever the locale
        return f"{_DAYS[moment.weekday()]} {_MONTHS[moment.month - 1]} {moment:%d %H:%M:%S} UTC {moment.year}"
    if isinstance(value, list):
        return ",".join(_claim_string("", item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
