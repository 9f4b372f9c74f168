"""Cognito, locally: the template's user pool, app client and groups in the embedded AWS, the demo operators
signing in, and the local API Gateway checking ID tokens as a REST API's Cognito user-pool authorizer does
(401 `{"message":"Unauthorized"}` without invoking the function; the claims in the proxy event otherwise)."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError
from joserfc import jwk, jwt
from moto.utilities.utils import load_resource

from local.runtime.api_gateway import REST_API, LocalApi, api_routes, resource_match
from local.runtime.cognito import (
    Unauthorized,
    UserPoolAuthorizer,
    api_gateway_claims,
    sign_in,
    strong_password,
)
from local.runtime.template import REPO_ROOT, function_environment, load_template
from local.scenarios.stack import STAGE, LocalStack

MANAGEMENT_FUNCTION = "ManagementApiFunction"
MANAGEMENT_APP = REPO_ROOT / "functions" / "management" / "app.py"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(seed_demo=False) as local:
        yield local


class _Recorder:
    """The started stack's template and resources, and a stand-in for its functions: records each event and
    answers 200 (the management function may not exist yet; the authorizer is what is tested)."""

    def __init__(self, stack: LocalStack) -> None:
        self.template = stack.template
        self.physical = stack.physical
        self.aws = stack.aws
        self.events: list[tuple[str, dict[str, Any]]] = []

    def invoke(self, logical_id: str, event: dict[str, Any], **kwargs: Any) -> Any:
        self.events.append((logical_id, event))
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": '{"ok": true}'}


@pytest.fixture(scope="module")
def recorded(stack: LocalStack) -> Iterator[tuple[LocalApi, _Recorder]]:
    recorder = _Recorder(stack)
    local_api = LocalApi(recorder, stage=STAGE, log_requests=False).start(port=0)
    try:
        yield local_api, recorder
    finally:
        local_api.stop()


@pytest.fixture
def recorder(recorded: tuple[LocalApi, _Recorder]) -> _Recorder:
    recorded[1].events.clear()
    return recorded[1]


@pytest.fixture
def url(recorded: tuple[LocalApi, _Recorder]) -> str:
    return recorded[0].url


def id_token(stack: LocalStack, role: str, client_id: str | None = None) -> str:
    username, password = stack.demo_users[role]
    result = sign_in(stack.cognito_endpoint, client_id or stack.user_pool_client_id, username, password)
    return str(result["IdToken"])


def payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def forged(claims: dict[str, Any], key: jwk.RSAKey | None = None) -> str:
    """A token signed with `key`, by default moto's own signing key (then the signature is valid: only the
    claims decide)."""
    signing_key = key or jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    return jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, signing_key)


def authorizer(stack: LocalStack, **options: Any) -> UserPoolAuthorizer:
    user_pool_arn = stack.aws.client("cognito-idp").describe_user_pool(UserPoolId=stack.user_pool_id)[
        "UserPool"
    ]["Arn"]
    return UserPoolAuthorizer(stack.cognito_endpoint, [user_pool_arn], **options)


# ---------------------------------------------------------------------------------------------- resources
def test_the_templates_pool_client_and_groups_exist_with_its_properties(stack: LocalStack) -> None:
    idp = stack.aws.client("cognito-idp")

    pool = idp.describe_user_pool(UserPoolId=stack.user_pool_id)["UserPool"]
    client = idp.describe_user_pool_client(UserPoolId=stack.user_pool_id, ClientId=stack.user_pool_client_id)
    groups = {g["GroupName"]: g for g in idp.list_groups(UserPoolId=stack.user_pool_id)["Groups"]}

    assert pool["Name"] == f"invoice-relay-{STAGE}-operators"
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
    assert pool["Policies"]["PasswordPolicy"]["RequireSymbols"] is False
    assert pool["MfaConfiguration"] == "OPTIONAL"
    assert idp.get_user_pool_mfa_config(UserPoolId=stack.user_pool_id)["SoftwareTokenMfaConfiguration"] == {
        "Enabled": True
    }
    client = client["UserPoolClient"]
    assert client["ClientName"] == f"invoice-relay-{STAGE}-admin" and "ClientSecret" not in client
    assert client["ExplicitAuthFlows"] == ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    assert (client["IdTokenValidity"], client["RefreshTokenValidity"]) == (60, 12)
    assert client["TokenValidityUnits"] == {
        "IdToken": "minutes",
        "AccessToken": "minutes",
        "RefreshToken": "hours",
    }
    assert {name: g["Precedence"] for name, g in groups.items()} == {"admins": 1, "viewers": 2}
    assert (stack.physical["AdminsGroup"], stack.physical["ViewersGroup"]) == ("admins", "viewers")


def test_the_management_functions_environment_names_the_pool_client_and_schedule_group(
    stack: LocalStack,
) -> None:
    environment = function_environment(stack.template, MANAGEMENT_FUNCTION, stack.physical, {"Stage": STAGE})

    assert environment["USER_POOL_ID"] == stack.user_pool_id
    assert environment["USER_POOL_CLIENT_ID"] == stack.user_pool_client_id
    # Ref of an AWS::Scheduler::ScheduleGroup is its Name; the group exists (CreateSchedule needs it).
    assert environment["SCHEDULE_GROUP"] == f"invoice-relay-{STAGE}"
    assert (
        stack.aws.client("scheduler").get_schedule_group(Name=environment["SCHEDULE_GROUP"])["State"]
        == "ACTIVE"
    )
    assert (
        environment["POLL_FUNCTION_ARN"]
        == f"arn:aws:lambda:us-east-1:123456789012:function:invoice-relay-{STAGE}-poll"
    )
    assert environment["SCHEDULER_ROLE_ARN"].startswith("arn:aws:iam::123456789012:role/")


# ---------------------------------------------------------------------------------------------- sign-in
@pytest.mark.parametrize(
    ("role", "username", "group"), [("admin", "demo-admin", "admins"), ("viewer", "demo-viewer", "viewers")]
)
def test_the_demo_users_sign_in_and_their_id_tokens_carry_their_group(
    stack: LocalStack, role: str, username: str, group: str
) -> None:
    name, password = stack.demo_users[role]
    user = stack.aws.client("cognito-idp").admin_get_user(UserPoolId=stack.user_pool_id, Username=name)

    claims = payload(id_token(stack, role))

    assert name == username and user["UserStatus"] == "CONFIRMED"  # permanent: no change at first sign-in
    assert len(password) >= 12 and any(c.isupper() for c in password) and any(c.isdigit() for c in password)
    assert claims["cognito:username"] == username and claims["cognito:groups"] == [group]
    assert (claims["token_use"], claims["aud"]) == ("id", stack.user_pool_client_id)


def test_a_wrong_password_does_not_sign_in(stack: LocalStack) -> None:
    with pytest.raises(ClientError) as refused:
        sign_in(stack.cognito_endpoint, stack.user_pool_client_id, "demo-admin", "Wrong-password-1")

    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"


def test_passwords_satisfy_the_policy() -> None:
    policy = {"MinimumLength": 30, "RequireSymbols": True, "RequireNumbers": True}
    password = strong_password(policy)

    assert len(password) == 30 and any(not c.isalnum() for c in password)
    assert any(c.islower() for c in password) and any(c.isdigit() for c in password)
    assert strong_password() != strong_password()


def test_a_browser_may_call_initiate_auth_from_the_local_api_origin(stack: LocalStack) -> None:
    origin = "http://127.0.0.1:3000"
    username, password = stack.demo_users["admin"]

    preflight = requests.options(
        f"{stack.cognito_endpoint}/",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-amz-target",
        },
        timeout=10,
    )
    answer = requests.post(
        f"{stack.cognito_endpoint}/",
        headers={
            "Origin": origin,
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
        },
        data=json.dumps(
            {
                "AuthFlow": "USER_PASSWORD_AUTH",
                "ClientId": stack.user_pool_client_id,
                "AuthParameters": {"USERNAME": username, "PASSWORD": password},
            }
        ),
        timeout=10,
    )

    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] in (origin, "*")
    allowed_headers = {
        h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"content-type", "x-amz-target"} <= allowed_headers
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert answer.status_code == 200 and answer.headers["Access-Control-Allow-Origin"] in (origin, "*")
    assert answer.json()["AuthenticationResult"]["IdToken"]


# ---------------------------------------------------------------------------------------------- authorizer
def test_a_valid_id_token_gives_its_claims_as_api_gateway_does(stack: LocalStack) -> None:
    token = id_token(stack, "viewer")

    claims = authorizer(stack).authorize(token)

    assert authorizer(stack).authorize(f"Bearer {token}") == claims
    assert claims["cognito:username"] == "demo-viewer" and claims["cognito:groups"] == "viewers"
    assert claims["token_use"] == "id" and claims["aud"] == stack.user_pool_client_id
    assert claims["iss"] == f"https://cognito-idp.us-east-1.amazonaws.com/{stack.user_pool_id}"
    assert all(isinstance(value, str) for value in claims.values())
    assert claims["auth_time"].isdigit()
    assert time.strptime(claims["exp"], "%a %b %d %H:%M:%S UTC %Y")  # "Fri Jul 29 18:52:53 UTC 2016"


def test_claims_are_strings_and_groups_are_joined_by_commas() -> None:
    claims = api_gateway_claims(
        {
            "cognito:groups": ["admins", "viewers"],
            "email_verified": True,
            "auth_time": 1469814773,
            "exp": 1469818373,
            "iat": 1469814773,
            "address": {"locality": "Leeds"},
        }
    )

    assert claims == {
        "cognito:groups": "admins,viewers",
        "email_verified": "true",
        "auth_time": "1469814773",
        "exp": "Fri Jul 29 18:52:53 UTC 2016",
        "iat": "Fri Jul 29 17:52:53 UTC 2016",
        "address": '{"locality":"Leeds"}',
    }


def valid_claims(stack: LocalStack, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": f"https://cognito-idp.us-east-1.amazonaws.com/{stack.user_pool_id}",
        "sub": "0d3c5a2e-0000-4000-8000-000000000000",
        "aud": stack.user_pool_client_id,
        "token_use": "id",
        "auth_time": now,
        "iat": now,
        "exp": now + 3600,
        "cognito:username": "demo-admin",
        "cognito:groups": ["admins"],
    }
    return {**claims, **changes}


def tampered(token: str) -> str:
    """The token with its payload changed (a viewer claiming to be an admin), the signature kept."""
    header, _, signature = token.split(".")
    claims = {**payload(token), "cognito:groups": ["admins"]}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


def other_pools_token(stack: LocalStack) -> str:
    """An ID token of another user pool (same embedded AWS, so even the same signing key: moto has one)."""
    idp = stack.aws.client("cognito-idp")
    pool_id = idp.create_user_pool(PoolName="someone-elses-pool")["UserPool"]["Id"]
    try:
        client_id = idp.create_user_pool_client(UserPoolId=pool_id, ClientName="theirs")["UserPoolClient"][
            "ClientId"
        ]
        idp.admin_create_user(UserPoolId=pool_id, Username="demo-admin", MessageAction="SUPPRESS")
        password = strong_password({"RequireSymbols": True})
        idp.admin_set_user_password(
            UserPoolId=pool_id, Username="demo-admin", Password=password, Permanent=True
        )
        return str(sign_in(stack.cognito_endpoint, client_id, "demo-admin", password)["IdToken"])
    finally:
        idp.delete_user_pool(UserPoolId=pool_id)


def refused_tokens(stack: LocalStack) -> dict[str, str | None]:
    viewer = id_token(stack, "viewer")
    username, password = stack.demo_users["admin"]
    access_token = sign_in(stack.cognito_endpoint, stack.user_pool_client_id, username, password)[
        "AccessToken"
    ]
    return {
        "missing": None,
        "empty": "",
        "not a JWT": "Bearer not-a-token",
        "tampered": tampered(viewer),
        "signed with another key": forged(valid_claims(stack), jwk.RSAKey.generate_key(2048)),
        "expired": forged(valid_claims(stack, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)),
        "another pool": other_pools_token(stack),
        "another app client (aud)": forged(valid_claims(stack, aud="someone-elses-client")),
        "no aud": forged({k: v for k, v in valid_claims(stack).items() if k != "aud"}),
        "an access token": str(access_token),
        "token_use access": forged(valid_claims(stack, token_use="access")),
        "no exp": forged({k: v for k, v in valid_claims(stack).items() if k != "exp"}),
    }


def test_the_authorizer_refuses_missing_and_invalid_tokens(stack: LocalStack) -> None:
    guard = authorizer(stack)
    assert (
        guard.authorize(forged(valid_claims(stack)))["cognito:username"] == "demo-admin"
    )  # the forger works

    for name, token in refused_tokens(stack).items():
        with pytest.raises(Unauthorized):
            guard.authorize(token)
            pytest.fail(f"{name}: accepted")


def test_a_token_is_refused_once_it_expires(stack: LocalStack) -> None:
    token = id_token(stack, "admin")
    expires = payload(token)["exp"]

    assert authorizer(stack, clock=lambda: expires - 1).authorize(token)
    with pytest.raises(Unauthorized):
        authorizer(stack, clock=lambda: expires).authorize(token)


def test_any_app_client_of_the_pool_is_an_audience_even_one_made_later(stack: LocalStack) -> None:
    guard = authorizer(stack)
    guard.authorize(id_token(stack, "admin"))  # the pool's clients are now known to the authorizer
    idp = stack.aws.client("cognito-idp")
    client_id = idp.create_user_pool_client(UserPoolId=stack.user_pool_id, ClientName="cli")[
        "UserPoolClient"
    ]["ClientId"]
    try:
        assert guard.authorize(id_token(stack, "admin", client_id))["aud"] == client_id
    finally:
        idp.delete_user_pool_client(UserPoolId=stack.user_pool_id, ClientId=client_id)


# ---------------------------------------------------------------------------------------------- routes
def test_rest_routes_take_the_most_specific_resource() -> None:
    assert resource_match("/{proxy+}", "/admin") == ((2,), {"proxy": "admin"})
    assert resource_match("/admin", "/admin") == ((0,), {})
    assert resource_match("/admin/{asset+}", "/admin/js/app.js") == ((0, 2), {"asset": "js/app.js"})
    assert resource_match("/admin/{asset+}", "/admin") is None
    assert resource_match("/{proxy+}", "/") is None
    assert resource_match("/connectors/{id}", "/connectors/a/b") is None

    routes = {(r.method, r.resource): r for r in api_routes(load_template()) if r.api == REST_API}
    assert routes[("ANY", "/{proxy+}")].authorizer == "CognitoAuthorizer"
    assert routes[("ANY", "/{proxy+}")].rest_api == "ManagementApi"
    for open_resource in ("/admin", "/admin/{asset+}"):
        assert routes[("GET", open_resource)].authorizer is None


def test_the_local_api_refuses_requests_without_a_valid_token_and_invokes_nothing(
    stack: LocalStack, url: str, recorder: _Recorder
) -> None:
    answers = {
        name: requests.get(
            f"{url}/connectors", headers={"Authorization": token} if token is not None else {}, timeout=10
        )
        for name, token in refused_tokens(stack).items()
    }

    for name, answer in answers.items():
        assert (name, answer.status_code, answer.json()) == (name, 401, {"message": "Unauthorized"})
    assert recorder.events == []


def test_the_local_api_passes_a_valid_tokens_claims_to_the_function(
    stack: LocalStack, url: str, recorder: _Recorder
) -> None:
    raw = requests.get(
        f"{url}/connectors/acme?limit=2", headers={"Authorization": id_token(stack, "admin")}, timeout=10
    )
    bearer = requests.post(
        f"{url}/connectors",
        headers={"Authorization": f"Bearer {id_token(stack, 'viewer')}"},
        json={},
        timeout=10,
    )

    assert (raw.status_code, bearer.status_code) == (200, 200)
    (function, event), (_, viewer_event) = recorder.events
    assert function == MANAGEMENT_FUNCTION
    assert (event["resource"], event["path"], event["httpMethod"]) == ("/{proxy+}", "/connectors/acme", "GET")
    assert event["pathParameters"] == {"proxy": "connectors/acme"}
    assert (
        event["requestContext"]["stage"] == STAGE
        and event["requestContext"]["path"] == f"/{STAGE}/connectors/acme"
    )
    claims = event["requestContext"]["authorizer"]["claims"]
    assert (claims["cognito:username"], claims["cognito:groups"]) == ("demo-admin", "admins")
    viewer_claims = viewer_event["requestContext"]["authorizer"]["claims"]
    assert (viewer_claims["cognito:username"], viewer_claims["cognito:groups"]) == ("demo-viewer", "viewers")


def test_the_admin_page_and_the_other_open_routes_need_no_token(url: str, recorder: _Recorder) -> None:
    open_routes = [r for r in api_routes(load_template()) if r.api == REST_API and r.authorizer is None]
    # The contract's open routes, and a request for every open route the template has now.
    expected = [
        ("/admin", "/admin", None),
        ("/admin/", "/admin", None),
        ("/admin/config.json", "/admin/{asset+}", {"asset": "config.json"}),
        ("/admin/js/app.js", "/admin/{asset+}", {"asset": "js/app.js"}),
    ] + [(_sample_path(r.resource), r.resource, _sample_parameters(r.resource)) for r in open_routes]

    answers = [requests.get(f"{url}{path}", timeout=10) for path, _, _ in expected]

    assert [a.status_code for a in answers] == [200] * len(expected)
    resources = [(event["resource"], event["pathParameters"]) for _, event in recorder.events]
    assert resources == [(resource, parameters) for _, resource, parameters in expected]
    assert all("authorizer" not in event["requestContext"] for _, event in recorder.events)


def _sample_path(resource: str) -> str:
    return re.sub(r"\{(\w+)(\+?)\}", lambda m: "a/b.js" if m.group(2) else "x", resource)


def _sample_parameters(resource: str) -> dict[str, str] | None:
    found = re.findall(r"\{(\w+)(\+?)\}", resource)
    return {name: ("a/b.js" if greedy else "x") for name, greedy in found} or None


def test_a_method_the_specific_resource_lacks_does_not_fall_back_to_the_proxy(
    url: str, recorder: _Recorder
) -> None:
    answer = requests.post(f"{url}/admin", timeout=10)

    assert (answer.status_code, answer.json()) == (403, {"message": "Missing Authentication Token"})
    assert recorder.events == []


def test_the_http_api_routes_share_the_port(url: str, recorder: _Recorder) -> None:
    webhook = requests.post(f"{url}/webhooks/demo-shop", json={}, timeout=10)
    connect = requests.get(f"{url}/oauth/demo-shop/connect", timeout=10)
    wrong_method = requests.get(f"{url}/webhooks/demo-shop", timeout=10)
    no_route = requests.get(f"{url}/webhooks/demo-shop/more", timeout=10)

    assert (webhook.status_code, connect.status_code) == (200, 200)
    assert [(function, event["version"], event["routeKey"]) for function, event in recorder.events] == [
        ("WebhookFunction", "2.0", "POST /webhooks/{connector_id}"),
        ("OAuthFunction", "2.0", "GET /oauth/{connector_id}/connect"),
    ]
    for answer in (wrong_method, no_route):  # the HTTP API's answers, not the REST API's 401
        assert (answer.status_code, answer.json()) == (404, {"message": "Not Found"})


# ------------------------------------------------------------------------------------------- the function
@pytest.fixture(scope="module")
def management_api(stack: LocalStack) -> Iterator[LocalApi]:
    local_api = LocalApi(stack, stage=STAGE, log_requests=False).start(port=0)
    try:
        yield local_api
    finally:
        local_api.stop()


def test_the_management_api_refuses_a_request_without_a_token(management_api: LocalApi) -> None:
    answer = requests.get(f"{management_api.url}/me", timeout=10)

    assert (answer.status_code, answer.json()) == (401, {"message": "Unauthorized"})


@pytest.mark.skipif(
    not Path(MANAGEMENT_APP).exists(), reason="functions/management/app.py is not written yet"
)
@pytest.mark.parametrize(
    ("role", "username", "group"), [("admin", "demo-admin", "admins"), ("viewer", "demo-viewer", "viewers")]
)
def test_the_management_api_knows_who_signed_in(
    stack: LocalStack, management_api: LocalApi, role: str, username: str, group: str
) -> None:
    answer = requests.get(
        f"{management_api.url}/me", headers={"Authorization": id_token(stack, role)}, timeout=30
    )

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"username": username, "groups": [group], "role": role}
