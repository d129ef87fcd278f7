"""The client and the service's OpenAPI description agree: every client operation exists there with
the same path parameters, query parameters, `Idempotency-Key` and request body (field names and which
are required), and every operation of the public API has a client method, except the ones listed in
NOT_FOR_HOSTS. A route added, renamed or changed without the client following fails here."""

from __future__ import annotations

import inspect
import re
import typing
from typing import Any

import pytest
from pydantic import BaseModel

from jirabridge.client import AsyncClient, Client, _api
from jirabridge.client import _models as m
from jirabridge.client._operations import OPERATIONS
from jirabridge.entrypoints.api_docs import openapi_app

# Operations a host's backend does not call: people's browsers, Jira and the operator's probes do.
NOT_FOR_HOSTS = {
    ("GET", "/oauth/callback"),  # Atlassian sends the person who gave consent back here
    ("POST", "/webhooks/jira/{site_token}"),  # Jira's webhook deliveries
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
}
# Bodies the client passes through as JSON documents (their shape is the service's settings page).
DOCUMENTS = {"put_project_settings", "put_settings"}
# Arguments of a builder that are not body fields.
NOT_BODY = {"idempotency_key"}
METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return openapi_app().openapi()


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def shapes(spec: dict[str, Any], schema: dict[str, Any]) -> list[tuple[set[str], set[str]]]:
    """Every object shape (property names, required names) a schema may be: unions and arrays opened."""
    schema = resolve(spec, schema)
    found = []
    if "properties" in schema:
        found.append((set(schema["properties"]), set(schema.get("required", []))))
    for key in ("anyOf", "oneOf"):
        for variant in schema.get(key, []):
            found += shapes(spec, variant)
    if "items" in schema:
        found += shapes(spec, schema["items"])
    return found


def model_shape(model: type[BaseModel]) -> tuple[set[str], set[str]]:
    # `type` of an auth is always sent (the service tells the kinds apart by it): required there.
    always_sent = {"type"} if issubclass(model, m.ApiTokenAuth | m.OAuthAuth) else set()
    required = {name for name, f in model.model_fields.items() if f.is_required()} | always_sent
    return set(model.model_fields), required


def nested_models(annotation: Any) -> list[type[BaseModel]]:
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return [annotation]
    return [found for arg in typing.get_args(annotation) for found in nested_models(arg)]


def operation_of(spec: dict[str, Any], name: str) -> dict[str, Any]:
    op = OPERATIONS[name]
    assert op.template in spec["paths"], f"{name}: no path {op.template} in the OpenAPI description"
    found: dict[str, Any] | None = spec["paths"][op.template].get(op.method.lower())
    assert found is not None, f"{name}: no {op.method} {op.template} in the OpenAPI description"
    return found


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_each_client_operation_is_an_operation_of_the_service(spec: dict[str, Any], name: str) -> None:
    op, described = OPERATIONS[name], operation_of(spec, name)
    parameters = described.get("parameters", [])
    by_place = {place: {p["name"] for p in parameters if p["in"] == place} for place in ("path", "query")}
    assert set(re.findall(r"{(\w+)}", op.template)) == by_place["path"]
    assert set(op.query) == by_place["query"]
    headers = {p["name"] for p in parameters if p["in"] == "header"}
    assert op.takes_idempotency_key == ("Idempotency-Key" in headers)

    body = described.get("requestBody")
    assert (body is not None) == (op.body is not None or name in DOCUMENTS)
    if op.body is None:
        return
    schema = body["content"]["application/json"]["schema"]
    assert model_shape(op.body) in shapes(spec, schema), f"{name}: the request body's fields differ"
    for field_name, field in op.body.model_fields.items():
        field_schema = resolve(spec, schema)
        if "properties" not in field_schema:  # an optional body: `anyOf: [the model, null]`
            field_schema = resolve(spec, next(v for v in field_schema["anyOf"] if "$ref" in v))
        for model in nested_models(field.annotation):
            property_schema = field_schema["properties"][field_name]
            assert model_shape(model) in shapes(spec, property_schema), f"{name}.{field_name}"


def test_every_operation_of_the_public_api_has_a_client_method(spec: dict[str, Any]) -> None:
    described = {
        (method.upper(), path) for path, item in spec["paths"].items() for method in METHODS if method in item
    }
    covered = {(op.method, op.template) for op in OPERATIONS.values()}
    assert described - NOT_FOR_HOSTS == covered
    assert described >= NOT_FOR_HOSTS  # an exclusion that no longer exists must leave this list


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_each_operation_is_a_method_of_both_clients_with_the_builders_arguments(name: str) -> None:
    builder = getattr(_api, name)
    for client in (Client, AsyncClient):
        assert getattr(client, name).__wrapped__ is builder
    op = OPERATIONS[name]
    if op.body is None:
        return
    arguments = (
        set(inspect.signature(builder).parameters) - NOT_BODY - set(re.findall(r"{(\w+)}", op.template))
    )
    fields = set(op.body.model_fields)
    if name == "preview_rules":  # the item's fields, its type and id named as everywhere else
        arguments = {{"item_type": "type", "item_id": "id"}.get(a, a) for a in arguments}
        fields = set(m.PreviewItem.model_fields)
    assert arguments == fields, f"{name}: its arguments are not its body's fields"


def test_both_clients_have_the_same_methods_and_only_the_async_one_awaits() -> None:
    def public(kind: type) -> set[str]:
        return {n for n in dir(kind) if not n.startswith("_")}

    assert public(Client) - {"close"} == public(AsyncClient) - {"aclose"}
    for name in OPERATIONS:
        assert not inspect.iscoroutinefunction(getattr(Client, name))
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name))
