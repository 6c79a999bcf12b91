"""The API against its own OpenAPI document, fuzzed by schemathesis: every answer documented, never a 500."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SLUGS = ("coalition-2024", "shut", "later")


@pytest.fixture
def api_token(runner, make_operator) -> str:
    make_operator("script", "admin")
    return runner.invoke(args=["operators", "token", "script"]).output.split()[0]


@pytest.fixture
def api(app, client, make_poll, make_links):
    """The app with an open poll of 30 answers, a closed poll and a draft, and its OpenAPI document."""
    poll = make_poll("coalition-2024")
    for number, token in enumerate(make_links(poll, count=30)):
        client.post(f"/p/{token}", data={"option": "123"[number % 3]})
    make_poll("shut", status="closed")
    make_poll("later", status="draft")
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def test_every_endpoint_answers_as_documented(api, api_token):
    # Each operation's cases, generated from the document (schemathesis's pytest plugin is not used:
    # its fixture loader does not run under this pytest).
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 4
    for operation in operations:

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy(), slug=st.sampled_from([None, *SLUGS]))
        def conforms(case, slug):
            if slug is not None:  # half the cases name a poll that exists, in each of its states
                case.path_parameters["slug"] = slug
            case.call_and_validate(headers={"Authorization": f"Bearer {api_token}"})

        conforms()


def test_the_document_is_valid_openapi_and_says_who_may_call_what(app, client):
    from openapi_spec_validator import validate

    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)  # against the OpenAPI 3.1 specification's own schema
    documented = {path.replace("{slug}", "<slug>").replace("{format}", "<fmt>") for path in document["paths"]}
    routes = {rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")}
    assert routes == documented
    for path, item in document["paths"].items():
        for operation in item.values():
            assert "security" in operation, path
            if operation["security"]:
                assert {"401", "404"} <= set(operation["responses"]), path
