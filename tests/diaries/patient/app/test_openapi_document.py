"""The OpenAPI document is what a mobile developer builds the client from: valid, complete, patient-only auth."""

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

PREFIX = "/api/v1/patient/"


@pytest.fixture(scope="module")
def document():
    return SchemaGenerator().get_schema(request=None, public=True)


def patient_operations(document):
    return [(path, method, op) for path, ops in document["paths"].items() if path.startswith(PREFIX)
            for method, op in ops.items()]


def test_the_document_is_valid_openapi(document):
    validate_schema(document)


def test_every_patient_operation_is_documented_with_the_patient_token_only(document):
    operations = patient_operations(document)
    assert len(operations) == 11  # me has GET and PATCH
    public = {f"{PREFIX}auth/code", f"{PREFIX}auth/token"}
    for path, method, op in operations:
        assert op["tags"] == ["patient"] and op.get("summary"), (path, method)
        assert "400" in op["responses"], (path, method)
        if path in public:
            assert op.get("security") in (None, [], [{}]), (path, method)
        else:
            assert op["security"] == [{"patientToken": []}], (path, method)
            assert "401" in op["responses"]
    assert document["components"]["securitySchemes"]["patientToken"] == {
        "type": "http", "scheme": "bearer", "description": document["components"]["securitySchemes"]
        ["patientToken"]["description"]}


def test_writes_require_an_idempotency_key_and_show_examples(document):
    for path in (f"{PREFIX}answers", f"{PREFIX}reports"):
        op = document["paths"][path]["post"]
        key = next(p for p in op["parameters"] if p["name"] == "Idempotency-Key")
        assert key["in"] == "header" and key["required"] is True
        assert op["requestBody"]["content"]["application/json"]["examples"]
        assert "409" in op["responses"] and "422" in op["responses"]
