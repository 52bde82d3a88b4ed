"""The OpenAPI schema at /api/schema/ validates and documents the sponsor endpoints."""

import pytest
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db

SPONSOR_PATHS = {
    "/api/v1/exports/": {"get", "post"},
    "/api/v1/exports/{id}/": {"get"},
    "/api/v1/exports/{id}/files/{name}": {"get"},
    "/api/v1/diary-records/": {"get"},
}


def test_the_schema_validates_and_includes_the_sponsor_endpoints(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    for path, methods in SPONSOR_PATHS.items():
        assert path in schema["paths"], path
        assert methods <= set(schema["paths"][path]), path
        for method in methods:
            operation = schema["paths"][path][method]
            assert operation.get("summary") and operation.get("description"), (path, method)
            assert {"tokenAuth": []} in operation["security"]
    create = schema["paths"]["/api/v1/exports/"]["post"]
    assert "202" in create["responses"] and "403" in create["responses"]
    assert create["requestBody"]["content"]["application/json"]["examples"]
    download = schema["paths"]["/api/v1/exports/{id}/files/{name}"]["get"]
    assert download["responses"]["200"]["content"]["application/octet-stream"]["schema"]["format"] == "binary"
    records = schema["paths"]["/api/v1/diary-records/"]["get"]
    names = {p["name"] for p in records["parameters"]}
    assert {"site", "usubjid", "date_from", "date_to", "include_superseded", "page", "page_size"} <= names
    record = schema["components"]["schemas"]["DiaryRecord"]["properties"]
    assert "usubjid" in record and not {"phone", "name", "arm"} & set(record)
