"""A small JSON Schema (draft-04 + the draft-06/07 keywords the Teams schema uses) validator.

``jsonschema`` is not a dependency of this project, so the manifest test validates with this
instead (and also with ``jsonschema`` when it happens to be installed). Supported: type, enum,
const, required, properties, additionalProperties, patternProperties, minProperties,
dependencies, items, minItems, maxItems, uniqueItems, minLength, maxLength, pattern,
minimum, maximum, $ref (local), allOf, anyOf, oneOf, not, if/then/else. ``format`` is ignored.
"""

from __future__ import annotations

import json
import re
from typing import Any

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def validate(instance: Any, schema: dict[str, Any]) -> list[str]:
    """Every violation as ``"<json path>: <what>"`` (empty when valid)."""
    return list(_check(instance, schema, schema, "$"))


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported: {ref}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _check(value: Any, schema: Any, root: dict[str, Any], path: str):
    if schema is True or schema == {}:
        return
    if schema is False:
        yield f"{path}: not allowed"
        return
    if "$ref" in schema:
        yield from _check(value, _resolve(root, schema["$ref"]), root, path)
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_TYPES[k](value) for k in kinds):
            yield f"{path}: expected {kind}, got {type(value).__name__}"
            return
    if "enum" in schema and value not in schema["enum"]:
        yield f"{path}: {value!r} not in {schema['enum']}"
    if "const" in schema and value != schema["const"]:
        yield f"{path}: {value!r} != {schema['const']!r}"
    for sub in schema.get("allOf", []):
        yield from _check(value, sub, root, path)
    if "anyOf" in schema and not any(not list(_check(value, s, root, path)) for s in schema["anyOf"]):
        yield f"{path}: matches none of anyOf"
    if "oneOf" in schema:
        matches = sum(1 for s in schema["oneOf"] if not list(_check(value, s, root, path)))
        if matches != 1:
            yield f"{path}: matches {matches} of oneOf (expected exactly 1)"
    if "not" in schema and not list(_check(value, schema["not"], root, path)):
        yield f"{path}: matches a 'not' schema"
    if "if" in schema:
        branch = "then" if not list(_check(value, schema["if"], root, path)) else "else"
        if branch in schema:
            yield from _check(value, schema[branch], root, path)
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            yield f"{path}: longer than {schema['maxLength']}"
        if "minLength" in schema and len(value) < schema["minLength"]:
            yield f"{path}: shorter than {schema['minLength']}"
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            yield f"{path}: {value!r} does not match {schema['pattern']}"
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            yield f"{path}: below {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            yield f"{path}: above {schema['maximum']}"
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield f"{path}: more than {schema['maxItems']} items"
        if "minItems" in schema and len(value) < schema["minItems"]:
            yield f"{path}: fewer than {schema['minItems']} items"
        if schema.get("uniqueItems") and len({json.dumps(v, sort_keys=True) for v in value}) != len(value):
            yield f"{path}: items are not unique"
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                yield from _check(item, items, root, f"{path}[{i}]")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                yield f"{path}: missing required {name!r}"
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            yield f"{path}: fewer than {schema['minProperties']} properties"
        for name, needs in schema.get("dependencies", {}).items():
            if name in value:
                if isinstance(needs, list):
                    for other in needs:
                        if other not in value:
                            yield f"{path}: {name!r} needs {other!r}"
                else:
                    yield from _check(value, needs, root, path)
        properties = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        for name, item in value.items():
            matched = False
            if name in properties:
                matched = True
                yield from _check(item, properties[name], root, f"{path}.{name}")
            for pattern, sub in patterns.items():
                if re.search(pattern, name):
                    matched = True
                    yield from _check(item, sub, root, f"{path}.{name}")
            extra = schema.get("additionalProperties", True)
            if not matched:
                if extra is False:
                    yield f"{path}: unexpected property {name!r}"
                elif isinstance(extra, dict):
                    yield from _check(item, extra, root, f"{path}.{name}")
