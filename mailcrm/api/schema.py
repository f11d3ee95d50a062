"""OpenAPI schema generation: every operation also documents the error responses it can
give, in the one error format, so the schema tells clients (and fuzzers) the truth."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


_DESCRIPTIONS = {
    "400": "Invalid input; `fields` names each bad field.",
    "401": "Missing or invalid API key.",
    "403": "The key's scope does not cover this call (`missing_scope` names what it lacks).",
    "404": "Not found (or another workspace's).",
    "409": "Conflicts with an existing object.",
    "422": "Well-formed but cannot be done (e.g. a plan limit).",
    "429": "Rate limited; see `Retry-After`.",
}


class MailcrmAutoSchema(AutoSchema):
    def map_parsers(self):
        # The API speaks JSON (API.md); form bodies are still parsed where the default parsers
        # are, but only the file uploads (imports) document multipart, so clients and the
        # fuzzer send what the contract promises.
        media_types = super().map_parsers()
        return ["application/json"] if "application/json" in media_types else media_types

    def _get_parameters(self):
        parameters = super()._get_parameters()
        for parameter in parameters:
            schema = parameter.get("schema", {})
            if parameter.get("in") != "query":
                continue
            # django-filter reads an empty value as "no filter" (the dashboard's filter forms
            # send one for "any"), so "" is one of the values a filter takes: a choice's, and
            # an id's, a date's or a number's, whose format or type would otherwise refuse it.
            if "" not in schema.get("enum", [""]):
                parameter["schema"] = {**schema, "enum": [*schema["enum"], ""]}
            elif "enum" not in schema and (
                schema.get("format") or schema.get("type") in ("integer", "number")
            ):
                parameter["schema"] = {"anyOf": [schema, {"type": "string", "enum": [""]}]}
        return parameters

    def _reads_body(self) -> bool:
        """A DELETE that reads a body of its own (members removed by ids or emails), which a
        400 can refuse; OpenAPI 3.0 gives DELETE no request body to show it."""
        default = getattr(self.view, "serializer_class", None)
        if self.method != "DELETE" or default is None:
            return False  # asked first: guessing an APIView's serializer warns (W002)
        serializer = self.get_request_serializer()
        if serializer is None:
            return False
        klass = serializer if isinstance(serializer, type) else type(serializer)
        return not issubclass(klass, default)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response" or not self.view.get_authenticators():
            return responses
        codes = ["401", "403", "429"]
        if self.method in ("POST", "PUT", "PATCH") or self._is_list_view() or self._reads_body():
            codes.append("400")
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["409", "422"]
        if "{" in self.path or self.method in ("POST", "PUT", "PATCH"):
            codes.append("404")  # a body may name an object (primary_id, template_id …)
        if self._is_list_view() and "{" not in self.path:
            codes.append("404")  # filters naming an unknown tag or list
        for code in codes:
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                response["description"] = _DESCRIPTIONS[code]
                responses[code] = response
        return responses


_EMPTY = {"type": "string", "enum": [""]}


def _takes_empty(prop: dict) -> bool:
    if prop.get("type") == "string" and prop.get("format") == "binary":
        return False  # a file: sent as a file part, never as an empty value
    # A plain string already takes "" (maxLength too); these words would refuse it.
    refusing = {"enum", "format", "minLength", "pattern"}
    plain = prop.get("type") == "string" and not set(prop) & refusing
    return not plain and "anyOf" not in prop


def _with_empty(prop: dict) -> dict:
    # Outer keys (description, default) stay where readers look for them.
    inner = {k: v for k, v in prop.items() if k not in ("description", "default")}
    outer = {k: v for k, v in prop.items() if k not in inner}
    if list(inner) == ["allOf"] and len(inner["allOf"]) == 1:
        inner = inner["allOf"][0]  # drf-spectacular's wrapping of a $ref beside a description
    return {"anyOf": [inner, _EMPTY], **outer}


def form_empty_values(result: dict, generator, request, public) -> dict:
    """A postprocessing hook: in a multipart form body, an optional field sent empty is taken
    as not sent (DRF's rule for HTML form input: its default applies, or null where the field
    takes null), so "" is one of the values each such field takes, as for the query filters
    above. The fuzzing found ``type=`` taken on ``POST /suppressions/import``."""
    schemas = result.get("components", {}).get("schemas", {})
    form_refs, json_refs = set(), set()
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
                ref = content.get("schema", {}).get("$ref", "")
                (form_refs if media_type == "multipart/form-data" else json_refs).add(ref)
    for ref in form_refs:
        name = ref.rpartition("/")[2]
        if not ref or name not in schemas:
            continue
        if ref in json_refs:
            raise ValueError(f"{name} is a form body and a JSON body: split it to document both")
        component = schemas[name]
        required = set(component.get("required", []))
        for key, prop in component.get("properties", {}).items():
            if key not in required and _takes_empty(prop):
                component["properties"][key] = _with_empty(prop)
    return result
