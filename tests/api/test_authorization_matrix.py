"""Acceptance 1: the authorization matrix, generated from the server's own OpenAPI document.

For every operation the document lists: unauthenticated it gets 401 (the
public ones excepted: health and sign-in); for every role it gets 403
exactly when the role is not in the operation's ``x-roles``, and something
other than 401/403/5xx when it is. The ``x-roles`` themselves are checked
against the contract's table (docs/http-api.md), so the document cannot
drift from it. Finally every operation is called as an analyst with real
ids and valid bodies, and no response may contain an enrolled person's
name, ID number or image.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from facewarden.api.schemas_admin import Role
from facewarden.service.roles import ROLES

from ._live import KNN, LiveServer

OPERATOR = ["admin", "operator"]
AUDIT = ["admin", "auditor"]
EVERYONE = sorted(ROLES)
CROWD = ["admin", "analyst", "operator"]
SITE = ["admin", "investigator", "operator"]

#: docs/http-api.md's table: (method, path) -> roles (admin included where operator is).
CONTRACT: dict[tuple[str, str], list[str] | None] = {
    ("GET", "/health"): None,
    ("POST", "/v1/auth/login"): None,
    ("POST", "/v1/auth/logout"): EVERYONE,
    ("GET", "/v1/auth/me"): EVERYONE,
    ("POST", "/v1/auth/password"): EVERYONE,
    ("POST", "/v1/detect"): OPERATOR,
    ("POST", "/v1/identify"): OPERATOR,
    ("POST", "/v1/verify"): OPERATOR,
    ("POST", "/v1/verify/images"): OPERATOR,
    ("GET", "/v1/subjects"): OPERATOR,
    ("POST", "/v1/subjects"): OPERATOR,
    ("POST", "/v1/subjects/lookup"): OPERATOR,
    ("GET", "/v1/subjects/{subject_id}"): ["admin", "investigator", "operator"],
    ("PATCH", "/v1/subjects/{subject_id}"): OPERATOR,
    ("GET", "/v1/subjects/{subject_id}/export"): OPERATOR,
    ("POST", "/v1/subjects/{subject_id}/restriction"): OPERATOR,
    ("DELETE", "/v1/subjects/{subject_id}/restriction"): OPERATOR,
    ("DELETE", "/v1/subjects/{subject_id}"): OPERATOR,
    ("POST", "/v1/subjects/{subject_id}/faces"): OPERATOR,
    ("DELETE", "/v1/subjects/{subject_id}/faces/{face_id}"): OPERATOR,
    ("GET", "/v1/watchlists"): OPERATOR,
    ("POST", "/v1/watchlists"): OPERATOR,
    ("PUT", "/v1/watchlists/{ref}/members/{subject_id}"): OPERATOR,
    ("DELETE", "/v1/watchlists/{ref}/members/{subject_id}"): OPERATOR,
    ("GET", "/v1/watchlists/{ref}/members"): OPERATOR,
    ("GET", "/v1/stats"): OPERATOR,
    ("GET", "/v1/audit"): AUDIT,
    ("GET", "/v1/audit/verify"): AUDIT,
    ("GET", "/v1/users"): ["admin"],
    ("POST", "/v1/users"): ["admin"],
    ("DELETE", "/v1/users/{username}"): ["admin"],
    ("GET", "/v1/api-keys"): ["admin"],
    ("POST", "/v1/api-keys"): ["admin"],
    ("DELETE", "/v1/api-keys/{key_id}"): ["admin"],
    ("GET", "/v1/keys/status"): ["admin"],
    ("GET", "/v1/processing-report"): AUDIT,
    ("GET", "/v1/processing-report.md"): AUDIT,
    ("GET", "/v1/cameras"): CROWD,
    ("POST", "/v1/cameras"): OPERATOR,
    ("GET", "/v1/cameras/{camera}"): CROWD,
    ("DELETE", "/v1/cameras/{camera}"): OPERATOR,
    ("POST", "/v1/cameras/{camera}/frames"): OPERATOR,
    ("POST", "/v1/cameras/{camera}/frames/end"): OPERATOR,
    ("GET", "/v1/cameras/{camera}/view"): OPERATOR,
    ("GET", "/v1/cameras/{camera}/crowd"): CROWD,
    ("GET", "/v1/cameras/{camera}/crowd.csv"): CROWD,
    ("GET", "/v1/sightings"): SITE,
    ("POST", "/v1/subjects/{subject_id}/history"): ["investigator"],
    ("POST", "/v1/history-requests/{request_id}/approve"): ["admin", "investigator"],
    ("GET", "/v1/alerts"): OPERATOR,
    ("GET", "/v1/alerts/{sighting_id}"): OPERATOR,
    ("GET", "/v1/alerts/{sighting_id}/photos/{photo}"): OPERATOR,
    ("POST", "/v1/alerts/{sighting_id}/acknowledge"): OPERATOR,
    ("POST", "/v1/alerts/{sighting_id}/dismiss"): OPERATOR,
    ("POST", "/v1/alerts/{sighting_id}/escalate"): OPERATOR,
    ("POST", "/v1/alerts/{sighting_id}/notes"): OPERATOR,
    ("PUT", "/v1/watchlists/{ref}/alert-severity"): OPERATOR,
    ("GET", "/v1/desk"): OPERATOR,
    ("PATCH", "/v1/watchlists/{ref}"): OPERATOR,
    ("DELETE", "/v1/watchlists/{ref}"): OPERATOR,
    ("GET", "/v1/subjects/{subject_id}/photo"): ["admin", "investigator", "operator"],
    ("GET", "/v1/subjects/{subject_id}/faces/{face_id}/photo"): [
        "admin",
        "investigator",
        "operator",
    ],
    ("GET", "/v1/history-requests"): ["admin", "investigator"],
    ("POST", "/v1/history-requests/{request_id}/refuse"): ["admin", "investigator"],
    # CompreFace-compatible routes: an operator's key, as CompreFace's x-api-key.
    ("POST", "/api/v1/recognition/subjects"): OPERATOR,
    ("GET", "/api/v1/recognition/subjects"): OPERATOR,
    ("PUT", "/api/v1/recognition/subjects/{subject}"): OPERATOR,
    ("DELETE", "/api/v1/recognition/subjects/{subject}"): OPERATOR,
    ("POST", "/api/v1/recognition/faces"): OPERATOR,
    ("GET", "/api/v1/recognition/faces"): OPERATOR,
    ("DELETE", "/api/v1/recognition/faces"): OPERATOR,
    ("DELETE", "/api/v1/recognition/faces/{image_id}"): OPERATOR,
    ("POST", "/api/v1/recognition/faces/{image_id}/verify"): OPERATOR,
    ("POST", "/api/v1/recognition/recognize"): OPERATOR,
    ("POST", "/api/v1/verification/verify"): OPERATOR,
    ("POST", "/api/v1/detection/detect"): OPERATOR,
    ("DELETE", "/api/v1/recognition/subjects"): OPERATOR,
    ("POST", "/api/v1/recognition/faces/delete"): OPERATOR,
    ("GET", "/api/v1/recognition/faces/{image_id}/img"): OPERATOR,
    ("POST", "/api/v1/recognition/embeddings/recognize"): OPERATOR,
    ("POST", "/api/v1/recognition/embeddings/faces/{image_id}/verify"): OPERATOR,
    ("POST", "/api/v1/verification/embeddings/verify"): OPERATOR,
    # CompreFace's "direct download" URL carries the key in its path: the route
    # checks that key itself (same lockout and roles), so it is public to the middleware.
    ("GET", "/api/v1/static/{api_key}/images/{image_id}"): None,
}

NAME, ID_NUMBER = "Barack Hussein Obama", "OB-4411-2009"
ONE_FACE = KNN / "train" / "obama" / "obama2.jpg"


def _tiny_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (128, 128, 128)).save(buffer, format="PNG")
    return buffer.getvalue()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def _request(
    client: httpx.Client,
    method: str,
    path: str,
    operation: dict[str, Any],
    values: dict[str, str],
    image: bytes,
) -> httpx.Response:
    """A request for ``operation``: ids from ``values`` (else a dummy), a plausible body."""
    url = path
    query: dict[str, str] = {}
    for parameter in operation.get("parameters", []):
        value = values.get(parameter["name"], "nobody")
        if parameter["in"] == "path":
            url = url.replace("{" + parameter["name"] + "}", value)
        elif parameter["in"] == "query" and parameter.get("required"):
            query[parameter["name"]] = value
    content = operation.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        schema = content["multipart/form-data"]["schema"]
        properties = schema.get("properties") or _resolve(schema, values)
        files = [
            (name, ("probe.png", image, "image/png"))
            for name, spec in properties.items()
            if spec.get("format") == "binary"
            or spec.get("items", {}).get("format") == "binary"
            or spec.get("contentMediaType")
            or spec.get("items", {}).get("contentMediaType")
        ]
        data = {name: values.get(name, "x") for name in properties if name not in dict(files)}
        return client.request(method, url, params=query, data=data, files=files)
    if "application/json" in content:
        return client.request(method, url, params=query, json=json.loads(values["json"]))
    return client.request(method, url, params=query)


def _resolve(schema: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    ref = schema["$ref"].rsplit("/", 1)[-1]
    return dict(values["__components__"][ref]["properties"])


@pytest.fixture(scope="module")
def document(live: LiveServer) -> dict[str, Any]:
    with live.client() as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


@pytest.fixture(scope="module")
def enrolled(live: LiveServer, photos: dict[str, Path]) -> dict[str, str]:
    """A person enrolled natively and through the CompreFace API, and a camera checking for
    them that saw them once; their ids by parameter name."""
    with live.client("operator") as client:
        client.post(
            "/v1/watchlists",
            json={"name": "entrance", "purpose": "site access", "lawful_basis": "art. 6(1)(f)"},
        ).raise_for_status()
        record = {"full_name": NAME, "lawful_basis": "consent", "id_number": ID_NUMBER}
        created = client.post(
            "/v1/subjects",
            data={"record": json.dumps(record), "watchlist": "entrance"},
            # A photo where every detector sees one face (the accurate one sees two in obama.jpg).
            files=[("file", ("obama.jpg", ONE_FACE.read_bytes(), "image/jpeg"))],
        )
        created.raise_for_status()
        example = client.post(
            "/api/v1/recognition/faces",
            params={"subject": NAME},
            files={"file": ("obama2.jpg", photos["obama2"].read_bytes(), "image/jpeg")},
        )
        example.raise_for_status()
        camera = client.post(
            "/v1/cameras", json={"name": "door", "location": "north", "watchlists": ["entrance"]}
        )
        camera.raise_for_status()
        pushed = client.post(
            "/v1/cameras/door/frames",
            files={"image": ("frame.jpg", photos["obama2"].read_bytes(), "image/jpeg")},
        )
        assert pushed.json()["new_sightings"], pushed.text
        client.post("/v1/cameras/door/frames/end").raise_for_status()
    subject = created.json()
    return {
        "subject_id": subject["subject_id"],
        "face_id": subject["faces"][0]["face_id"],
        "ref": "entrance",
        "subject": NAME,
        "image_id": example.json()["image_id"],
        "username": "nobody",
        "key_id": "nobody",
        "watchlist": "entrance",
        "camera": camera.json()["camera_id"],
        "request_id": "nobody",
        "sighting_id": pushed.json()["new_sightings"][0],
        "photo": "captured",
    }


def test_document_roles_match_the_contract(document: dict[str, Any]) -> None:
    seen = {}
    for method, path, operation in _operations(document):
        public = operation.get("security") == []
        seen[(method, path)] = None if public else operation.get("x-roles")
    assert seen == CONTRACT
    assert set(ROLES) == set(Role.__args__)


def test_every_operation_needs_authentication(live: LiveServer, document: dict[str, Any]) -> None:
    image = _tiny_png()
    values: dict[str, Any] = {
        "json": '{"username": "admin", "password": "wrong password!"}',
        "__components__": document["components"]["schemas"],
    }
    checked = 0
    with live.client(None) as client:
        for method, path, operation in _operations(document):
            response = _request(client, method, path, operation, values, image)
            if operation.get("security") == []:
                assert response.status_code in (200, 401), (method, path, response.text)
                continue
            assert response.status_code == 401, (method, path, response.status_code)
            body = response.json()
            shape = body["error"] if not path.startswith("/api/") else body
            assert shape["message"], (method, path)
            if path.startswith("/api/"):
                assert body["code"] == 20, (method, path, body)  # CompreFace's missing header
            checked += 1
        for path in ("/openapi.json", "/docs", "/v1/nowhere"):
            assert client.get(path).status_code == 401
    assert checked == len(CONTRACT) - 3


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_gets_exactly_its_operations(
    live: LiveServer, document: dict[str, Any], role: str
) -> None:
    """Dummy ids and bodies: allowed roles get a 2xx or a non-auth 4xx, others 403."""
    image = _tiny_png()
    values: dict[str, Any] = {"json": "{}", "__components__": document["components"]["schemas"]}
    with live.client(role) as client:
        for method, path, operation in _operations(document):
            if operation.get("security") == []:
                continue
            response = _request(client, method, path, operation, values, image)
            allowed = role in operation["x-roles"]
            if allowed:
                assert response.status_code not in (401, 403), (role, method, path, response.text)
                assert response.status_code < 500, (role, method, path, response.text)
            else:
                assert response.status_code == 403, (role, method, path, response.status_code)


@pytest.mark.parametrize("role", ["analyst", "auditor"])
def test_a_refused_role_is_refused_before_its_body_is_read(
    live: LiveServer, document: dict[str, Any], role: str
) -> None:
    """docs/http-api.md: the role check comes before the body is read, so a body that
    cannot even be parsed gets the 403, on every operation that takes one. The
    CompreFace recognize, verify, detect and embedding routes sat in a nested router
    the middleware did not see into: their bodies were parsed first (a 400 here)."""
    checked = 0
    with live.client(role) as client:
        for method, path, operation in _operations(document):
            content = operation.get("requestBody", {}).get("content", {})
            if not content or operation.get("security") == [] or role in operation["x-roles"]:
                continue
            media = "application/json"
            if "multipart/form-data" in content:
                media = "multipart/form-data; boundary=x"
            response = client.request(
                method,
                re.sub(r"\{[^}]+\}", "nobody", path),
                content=b"{ not a body",
                headers={"Content-Type": media},
            )
            assert response.status_code == 403, (role, method, path, response.text)
            checked += 1
    assert checked > 20  # every operation with a body that these roles may not call


@pytest.mark.parametrize("role", ["analyst", "auditor"])
def test_an_analyst_or_auditor_never_sees_a_person(
    live: LiveServer,
    document: dict[str, Any],
    enrolled: dict[str, str],
    photos: dict[str, Path],
    role: str,
) -> None:
    """Real ids, real photos, valid bodies: nothing about the person reaches them.

    The auditor's own routes (the audit log) name objects by id, which is what
    an audit is for; everywhere else neither role gets a name, an ID number,
    a photo (JPEG bytes or base64) or a subject id.
    """
    values: dict[str, Any] = dict(enrolled)
    values["__components__"] = document["components"]["schemas"]
    values["json"] = json.dumps({"id_number": ID_NUMBER, "subject": NAME})
    image = photos["obama_probe"].read_bytes()
    person = (NAME, "Obama", ID_NUMBER, "/9j/")
    with live.client(role) as reader, live.client("operator") as operator:
        for method, path, operation in _operations(document):
            if operation.get("security") == []:
                continue
            response = _request(reader, method, path, operation, values, image)
            assert response.status_code in (200, 204, 403, 422), (method, path)
            assert not response.content.startswith(b"\xff\xd8"), (method, path)  # no JPEG
            audit_route = path.startswith("/v1/audit") and role == "auditor"
            for secret in person if audit_route else (*person, enrolled["subject_id"]):
                assert secret not in response.text, (method, path, secret)
        # The same request as an operator shows the check would see a leak.
        shown = operator.get(f"/v1/subjects/{enrolled['subject_id']}")
        assert NAME in shown.text and ID_NUMBER in shown.text
