"""Read template.yaml the way the local stack needs it: resources, functions and their environment.

template.yaml is the single source of truth: the embedded AWS creates its tables, buckets, queues, user pools
and schedule groups from it, and the local runner gives each handler the environment SAM would give it in
AWS. Only the small subset of intrinsic functions that those values use is resolved here; this is not a
CloudFormation engine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"

LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account, so fake ARNs match the embedded AWS
LOCAL_STACK_NAME = "invoice-relay-local"

# SAM's defaults when neither Globals nor the function set them.
_SAM_DEFAULT_TIMEOUT = 3
_SAM_DEFAULT_MEMORY_SIZE = 128

# Short-form tag → long form. !Ref, !Condition and !GetAtt have their own shapes (see _construct_tag).
_FN_TAGS = (
    "And",
    "Base64",
    "Cidr",
    "Equals",
    "FindInMap",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "Transform",
)


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags into their JSON (long) form."""


def _construct_tag(loader: _CloudFormationLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]

    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt":
        # "Resource.Attribute" (the attribute itself may contain dots, e.g. Endpoint.Address).
        return {"Fn::GetAtt": value.split(".", 1) if isinstance(value, str) else value}
    if tag_suffix in _FN_TAGS:
        return {f"Fn::{tag_suffix}": value}
    raise yaml.constructor.ConstructorError(
        None, None, f"unknown CloudFormation tag !{tag_suffix}", node.start_mark
    )


_CloudFormationLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = DEFAULT_TEMPLATE) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template, short-form tags (`!Ref`, `!Sub`, ...) turned into long form."""
    with Path(path).open(encoding="utf-8") as template_file:
        template = yaml.load(template_file, Loader=_CloudFormationLoader)  # noqa: S506 (SafeLoader subclass)
    if not isinstance(template, dict) or "Resources" not in template:
        raise ValueError(f"{path} is not a CloudFormation template (no Resources)")
    return template


def resources_of_type(template: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one type (e.g. `AWS::SQS::Queue`), by logical id, in template order."""
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == resource_type
    }


def parameter_defaults(template: Mapping[str, Any]) -> dict[str, str]:
    """Each template parameter's default value as a string (parameters without a default are left out)."""
    return {
        name: str(spec["Default"])
        for name, spec in template.get("Parameters", {}).items()
        if "Default" in spec
    }


@dataclass(frozen=True)
class FunctionSpec:
    """One AWS::Serverless::Function with SAM Globals applied; `environment` still holds intrinsics."""

    logical_id: str
    code_uri: Path
    handler: str
    runtime: str
    timeout: int
    memory_size: int
    environment: dict[str, Any]


def functions(template: Mapping[str, Any], base_dir: Path = REPO_ROOT) -> dict[str, FunctionSpec]:
    """Every AWS::Serverless::Function by logical id, merged with `Globals.Function` as SAM does.

    `base_dir` is the directory relative to which CodeUri is resolved (the template's directory).
    """
    function_globals = template.get("Globals", {}).get("Function", {})
    global_variables = function_globals.get("Environment", {}).get("Variables", {})
    specs = {}
    for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items():
        properties = resource.get("Properties", {})
        own_variables = properties.get("Environment", {}).get("Variables", {})
        # The function's own property wins over Globals, which wins over SAM's default.
        setting = {**function_globals, **properties}
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_uri=(Path(base_dir) / setting["CodeUri"]).resolve(),
            handler=setting["Handler"],
            runtime=setting["Runtime"],
            timeout=int(setting.get("Timeout", _SAM_DEFAULT_TIMEOUT)),
            memory_size=int(setting.get("MemorySize", _SAM_DEFAULT_MEMORY_SIZE)),
            # SAM merges the Variables maps; the function's own value wins.
            environment={**global_variables, **own_variables},
        )
    return specs


_PSEUDO_PARAMETERS = {
    "AWS::AccountId": LOCAL_ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::StackName": LOCAL_STACK_NAME,
    "AWS::URLSuffix": "amazonaws.com",
}

# Fake-but-well-formed ARNs for GetAtt <Resource>.Arn, by resource type.
_ARN_FORMATS = {
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::S3::Bucket": "arn:aws:s3:::{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{name}",
    "AWS::Serverless::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    "AWS::Cognito::UserPool": "arn:aws:cognito-idp:{region}:{account}:userpool/{name}",  # name: the pool id
    "AWS::Scheduler::ScheduleGroup": "arn:aws:scheduler:{region}:{account}:schedule-group/{name}",
}

# Types whose `Ref` is their name, and the property naming them: what Ref / GetAtt .Arn give for such a
# resource when the embedded AWS does not create it (functions, roles) — the property's value, else
# `invoice-relay-local-<logical id in lower case>` (the embedded AWS's naming).
_NAME_PROPERTIES = {
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Scheduler::ScheduleGroup": "Name",
}

_COGNITO_ENDPOINT = "cognito-idp.{region}.amazonaws.com/{pool_id}"

_SUB_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


def resolve(
    value: Any,
    physical: Mapping[str, str],
    parameters: Mapping[str, str],
    *,
    resource_types: Mapping[str, str] | None = None,
    attributes: Mapping[str, str] | None = None,
    region: str = LOCAL_REGION,
    resources: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """Resolve a template value (literal, Ref, Fn::Sub, Fn::GetAtt, Fn::Join, Fn::Select) to a string.

    - `physical`: logical id → physical name/URL, what `Ref` returns for a resource.
    - `parameters`: template parameter values (callers merge in the defaults, see `parameter_defaults`).
    - `attributes`: exact `"LogicalId.Attribute"` values known at run time (e.g. real ARNs from the
      embedded AWS); otherwise `.Arn` is a fake ARN in `region` / account 123456789012, built from
      `resource_types` (logical id → type) when known.
    - `resources`: the template's resources (logical id → resource). With them, a function, role or schedule
      group the embedded AWS does not create still resolves: Ref to its name property (FunctionName,
      RoleName, Name), else `invoice-relay-local-<logical id in lower case>`; GetAtt .Arn to that name's ARN.
    Cognito: Ref of a user pool is its id, of an app client the client id, of a group its name (all in
    `physical`); GetAtt UserPool.Arn / ProviderName / ProviderURL / UserPoolId and UserPoolClient.ClientId
    are derived from them.
    Pseudo parameters: AWS::Region → `region`, AWS::AccountId → 123456789012, AWS::Partition → aws,
    AWS::StackName → invoice-relay-local.
    """
    resources = resources or {}
    types = {**{lid: str(r.get("Type", "")) for lid, r in resources.items()}, **(resource_types or {})}
    context = _Resolution(physical, parameters, types, attributes or {}, region, resources)
    return context.resolve(value)


def resolve_properties(
    value: Any,
    physical: Mapping[str, str],
    parameters: Mapping[str, str],
    **options: Any,
) -> Any:
    """A resource's Properties with every intrinsic in them resolved (see `resolve`; same options), and
    every literal kept as it is (numbers and booleans stay numbers and booleans, as the AWS APIs want)."""
    if isinstance(value, Mapping):
        if len(value) == 1 and _is_intrinsic(next(iter(value))):
            return resolve(value, physical, parameters, **options)
        return {key: resolve_properties(item, physical, parameters, **options) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_properties(item, physical, parameters, **options) for item in value]
    return value


def _is_intrinsic(key: str) -> bool:
    return key == "Ref" or key.startswith("Fn::")


@dataclass(frozen=True)
class _Resolution:
    physical: Mapping[str, str]
    parameters: Mapping[str, str]
    resource_types: Mapping[str, str]
    attributes: Mapping[str, str]
    region: str
    resources: Mapping[str, Mapping[str, Any]]

    def resolve(self, value: Any) -> str:
        if isinstance(value, bool):
            return str(value).lower()  # CloudFormation renders YAML booleans as "true"/"false"
        if isinstance(value, str | int | float):
            return str(value)
        if isinstance(value, Mapping) and len(value) == 1:
            (function, argument), *_ = value.items()
            if function == "Ref":
                return self.ref(argument)
            if function == "Fn::GetAtt":
                logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
                return self.get_att(logical_id, attribute)
            if function == "Fn::Sub":
                return self.sub(argument)
            if function == "Fn::Join":
                delimiter, items = argument
                return self.resolve(delimiter).join(self.resolve(item) for item in items)
            if function == "Fn::Select":
                index, items = argument
                return self.resolve(items[int(self.resolve(index))])
        raise ValueError(f"cannot resolve template value locally: {value!r}")

    def ref(self, name: str) -> str:
        if name == "AWS::Region":
            return self.region
        if name in _PSEUDO_PARAMETERS:
            return _PSEUDO_PARAMETERS[name]
        if name in self.parameters:
            return str(self.parameters[name])
        if name in self.physical:
            return self.physical[name]
        if (named := self.named(name)) is not None:
            return named
        raise KeyError(f"Ref {name}: neither a parameter nor a created resource")

    def named(self, logical_id: str) -> str | None:
        """The name of a resource not created locally whose Ref is its name (see `_NAME_PROPERTIES`)."""
        resource = self.resources.get(logical_id)
        name_property = _NAME_PROPERTIES.get(self.resource_types.get(logical_id, ""))
        if resource is None or name_property is None:
            return None
        name = resource.get("Properties", {}).get(name_property)
        return self.resolve(name) if name is not None else f"{LOCAL_STACK_NAME}-{logical_id.lower()}"

    def get_att(self, logical_id: str, attribute: str) -> str:
        known = self.attributes.get(f"{logical_id}.{attribute}")
        if known is not None:
            return known
        if logical_id in self.physical:
            physical = self.physical[logical_id]
        elif (named := self.named(logical_id)) is not None:
            physical = named
        else:
            raise KeyError(f"GetAtt {logical_id}.{attribute}: resource not created locally")
        resource_type = self.resource_types.get(logical_id, "")
        if resource_type == "AWS::Cognito::UserPool" and attribute in ("ProviderName", "ProviderURL"):
            provider = _COGNITO_ENDPOINT.format(region=self.region, pool_id=physical)
            return provider if attribute == "ProviderName" else f"https://{provider}"
        if (resource_type, attribute) in (
            ("AWS::Cognito::UserPool", "UserPoolId"),
            ("AWS::Cognito::UserPoolClient", "ClientId"),
        ):
            return physical
        # SQS: Ref is the queue URL, the name is its last path segment.
        name = physical.rstrip("/").rsplit("/", 1)[-1] if "://" in physical else physical
        if attribute == "Arn":
            arn_format = _ARN_FORMATS.get(resource_type, "arn:aws:cloudformation:{region}:{account}:{name}")
            return arn_format.format(region=self.region, account=LOCAL_ACCOUNT_ID, name=name)
        if attribute == "QueueName":
            return name
        if attribute == "QueueUrl":
            return physical
        raise ValueError(f"GetAtt {logical_id}.{attribute}: attribute not supported locally")

    def sub(self, argument: str | list[Any]) -> str:
        if isinstance(argument, str):
            text, variables = argument, {}
        else:
            text, variables = argument[0], argument[1]

        def substitute(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):  # ${!Literal} is an escaped, literal ${Literal}
                return "${" + expression[1:] + "}"
            if expression in variables:
                return self.resolve(variables[expression])
            if "." in expression and not expression.startswith("AWS::"):
                return self.get_att(*expression.split(".", 1))
            return self.ref(expression)

        return _SUB_PLACEHOLDER.sub(substitute, text)


def function_environment(
    template: Mapping[str, Any],
    logical_id: str,
    physical: Mapping[str, str],
    parameters: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment variables SAM would give function `logical_id`, resolved against local resources.

    `parameters` override the template's parameter defaults (e.g. `{"Stage": "prod"}`).
    """
    spec = functions(template)[logical_id]
    parameter_values = {**parameter_defaults(template), **(parameters or {})}
    return {
        name: resolve(value, physical, parameter_values, resources=template["Resources"])
        for name, value in spec.environment.items()
    }
