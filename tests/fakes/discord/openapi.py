"""Checks recorded traffic of the Discord fake against Discord's OpenAPI 3.1 description.

Pragmatic choices (documented so a reader knows what a pass means):
* every ``oneOf`` is read as ``anyOf``: Discord's unions overlap (objects without
  ``additionalProperties: false``), so "exactly one branch" would reject valid payloads;
* in request bodies a snowflake may also be a non-negative integer (Discord accepts both and
  discord.py sends e.g. attachment ids and message_reference ids as integers);
  responses must use strings, as Discord does;
* ``format`` is not asserted.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from .models import JSON, RecordedRequest

SPEC_URI = "urn:discord-openapi"
METHODS = ("get", "put", "post", "patch", "delete")
# Operations whose 200 JSON answers of the fake are validated too.
RESPONSE_CHECKED = {
    "create_message",
    "update_message",
    "get_message",
    "execute_webhook",
    "get_original_webhook_message",
    "update_original_webhook_message",
    "get_webhook_message",
    "update_webhook_message",
    "create_interaction_response",
}


def _rewrite(node: Any) -> Any:
    """oneOf -> anyOf, and local refs made absolute so any sub-schema validates on its own."""
    if isinstance(node, dict):
        out: JSON = {}
        for key, value in node.items():
            if key == "oneOf":
                key = "anyOf"
            if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
                out[key] = SPEC_URI + value
            else:
                out[key] = _rewrite(value)
        return out
    if isinstance(node, list):
        return [_rewrite(v) for v in node]
    return node


@dataclass
class _PathTemplate:
    template: str
    pattern: re.Pattern[str]
    literals: int
    item: JSON


class _Spec:
    def __init__(self, path: Path) -> None:
        raw = json.loads(path.read_text())
        strict = _rewrite(raw)
        relaxed = copy.deepcopy(strict)
        snowflake = relaxed["components"]["schemas"]["SnowflakeType"]
        relaxed["components"]["schemas"]["SnowflakeType"] = {"anyOf": [snowflake, {"type": "integer", "minimum": 0}]}
        self.registries = {
            "request": Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(relaxed)),
            "response": Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(strict)),
        }
        self.templates: list[_PathTemplate] = []
        for template, item in strict["paths"].items():
            regex = "/".join("[^/]+" if seg.startswith("{") else re.escape(seg) for seg in template.split("/"))
            literals = sum(1 for seg in template.split("/") if not seg.startswith("{"))
            self.templates.append(_PathTemplate(template, re.compile(regex), literals, item))
        self._validators: dict[tuple[str, str, str], Draft202012Validator | None] = {}

    def match(self, path: str) -> list[_PathTemplate]:
        found = [t for t in self.templates if t.pattern.fullmatch(path)]
        return sorted(found, key=lambda t: -t.literals)

    def validator(self, template: _PathTemplate, method: str, kind: str) -> Draft202012Validator | None:
        key = (template.template, method, kind)
        if key not in self._validators:
            op = template.item[method]
            if kind == "request":
                content = op.get("requestBody", {}).get("content", {})
                media = content.get("application/json") or content.get("multipart/form-data") or {}
            else:
                media = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
            schema = media.get("schema")
            self._validators[key] = (
                None if schema is None else Draft202012Validator(schema, registry=self.registries[kind])
            )
        return self._validators[key]


@cache
def _load(path: str) -> _Spec:
    return _Spec(Path(path))


def _describe(validator: Draft202012Validator, instance: Any) -> str | None:
    error = best_match(validator.iter_errors(instance))
    if error is None:
        return None
    message = error.message if len(error.message) < 300 else error.message[:300] + "..."
    return f"{message} (at {error.json_path})"


def check_requests(spec_path: Path, requests: Iterable[RecordedRequest]) -> list[str]:
    """Human-readable problems of the recorded traffic; an empty list means all good."""
    spec = _load(str(spec_path.resolve()))
    problems: list[str] = []
    for req in requests:
        where = f"{req.method} {req.path}"
        candidates = spec.match(req.path)
        if not candidates:
            problems.append(f"{where}: path matches no template of Discord's OpenAPI spec")
            continue
        method = req.method.lower()
        usable = [t for t in candidates if method in t.item and method in METHODS]
        if not usable:
            problems.append(f"{where}: method not in the spec for {candidates[0].template}")
            continue
        template = usable[0]
        operation = template.item[method]
        validator = spec.validator(template, method, "request")
        if req.json is not None and validator is not None:
            problem = _describe(validator, req.json)
            if problem:
                problems.append(f"{where}: request body does not match the spec: {problem}")
        elif req.json is None and not req.files and operation.get("requestBody", {}).get("required"):
            problems.append(f"{where}: the spec requires a request body, none was sent")
        if operation.get("operationId") in RESPONSE_CHECKED and req.status == 200 and req.response_json is not None:
            response_validator = spec.validator(template, method, "response")
            if response_validator is not None:
                problem = _describe(response_validator, req.response_json)
                if problem:
                    problems.append(f"{where}: the fake's 200 answer does not match the spec: {problem}")
    return problems
