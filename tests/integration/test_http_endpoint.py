"""`POST /graphql` against the real server: AppSync's shapes, status codes and errors."""

from __future__ import annotations

import httpx

from appsync_emu.pytest_plugin import EmulatorHandle

from .conftest import gql_post

NOT_AUTHORIZED = {
    "errors": [{"errorType": "UnauthorizedException", "message": "You are not authorized to make this call."}]
}


def test_query_through_a_js_resolver_answers_200_with_data(core_api: EmulatorHandle) -> None:
    r = gql_post(core_api, 'query { hello(name: "Ada") }')
    assert r.status_code == 200
    assert r.json() == {"data": {"hello": "Hello, Ada!"}}
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-amzn-requestid"]


def test_body_that_is_not_json_is_a_malformed_request(core_api: EmulatorHandle) -> None:
    r = httpx.post(core_api.graphql_url, content=b"{nope", headers={"x-api-key": core_api.api_key or ""})
    assert r.status_code == 400
    assert r.json() == {
        "errors": [{"errorType": "MalformedHttpRequestException", "message": "Unable to parse GraphQL query."}]
    }
    assert r.headers["x-amzn-errortype"] == "MalformedHttpRequestException"


def test_body_without_query_or_as_a_batch_is_a_malformed_request(core_api: EmulatorHandle) -> None:
    for body in ({"variables": {}}, [{"query": "{ hello }"}], {"query": "{ hello }", "variables": "x"}):
        r = httpx.post(core_api.graphql_url, json=body, headers={"x-api-key": core_api.api_key or ""})
        assert r.status_code == 400, body
        assert r.json()["errors"][0]["errorType"] == "MalformedHttpRequestException"


def test_unknown_field_is_a_400_validation_error_in_graphql_java_words(core_api: EmulatorHandle) -> None:
    r = gql_post(core_api, "query {\n  hello\n  nope\n}")
    assert r.status_code == 400
    assert r.json() == {
        "data": None,
        "errors": [
            {
                "path": None,
                "locations": [{"line": 3, "column": 3, "sourceName": None}],
                "message": (
                    "Validation error of type FieldUndefined: Field 'nope' in type 'Query' is undefined @ 'nope'"
                ),
            }
        ],
    }


def test_syntax_error_is_a_400_with_a_location(core_api: EmulatorHandle) -> None:
    r = gql_post(core_api, "query { hello ")
    assert r.status_code == 400
    [err] = r.json()["errors"]
    assert err["path"] is None and err["locations"][0]["sourceName"] is None


def test_bad_variable_value_is_a_request_level_400(core_api: EmulatorHandle) -> None:
    r = gql_post(core_api, "query Q($d: AWSDateTime) { echoDate(d: $d) }", {"d": "2020-01-01T00:00:00"})
    assert r.status_code == 400
    assert r.json()["data"] is None


def test_wrong_missing_and_expired_api_keys_get_401_with_appsync_body(core_api: EmulatorHandle) -> None:
    wrong = gql_post(core_api, "{ hello }", x_api_key="da2-wrong")
    assert (wrong.status_code, wrong.json()) == (401, NOT_AUTHORIZED)
    assert wrong.headers["x-amzn-errortype"] == "UnauthorizedException"
    missing = httpx.post(core_api.graphql_url, json={"query": "{ hello }"})
    assert (missing.status_code, missing.json()) == (401, NOT_AUTHORIZED)
    expired = gql_post(core_api, "{ hello }", x_api_key=core_api.api_keys[1])
    assert (expired.status_code, expired.json()) == (401, NOT_AUTHORIZED)


def test_util_error_nulls_the_field_with_six_keys_and_data_filtered_by_selection(
    core_api: EmulatorHandle,
) -> None:
    r = gql_post(core_api, 'query {\n  fail(kind: "error") { id name }\n  hello\n}')
    assert r.status_code == 200
    body = r.json()
    assert body["data"] == {"fail": None, "hello": "Hello, world!"}
    [err] = body["errors"]
    assert list(err) == ["path", "data", "errorType", "errorInfo", "locations", "message"]
    assert err == {
        "path": ["fail"],
        "data": {"id": "1", "name": "n"},
        "errorType": "MyError",
        "errorInfo": {"k": 1},
        "locations": [{"line": 2, "column": 3, "sourceName": None}],
        "message": "boom",
    }


def test_append_error_keeps_the_value_and_adds_an_error(core_api: EmulatorHandle) -> None:
    body = gql_post(core_api, 'query { fail(kind: "append") { id } }').json()
    assert body["data"] == {"fail": {"id": "1"}}
    assert body["errors"][0]["message"] == "careful"
    assert body["errors"][0]["errorType"] == "Warning"
    assert body["errors"][0]["path"] == ["fail"]


def test_util_unauthorized_gives_appsync_message(core_api: EmulatorHandle) -> None:
    body = gql_post(core_api, 'query { fail(kind: "unauthorized") { id } }').json()
    assert body["data"] == {"fail": None}
    assert body["errors"][0]["errorType"] == "Unauthorized"
    assert body["errors"][0]["message"] == "Not Authorized to access fail on type Query"


def test_runtime_error_in_resolver_code_names_the_file_and_line(core_api: EmulatorHandle) -> None:
    body = gql_post(core_api, 'query { fail(kind: "runtime") { id } hello }').json()
    assert body["data"] == {"fail": None, "hello": "Hello, world!"}
    message = body["errors"][0]["message"]
    assert "fail.js:13" in message, message


def test_endless_loop_times_out_the_request_and_the_server_keeps_serving(core_api: EmulatorHandle) -> None:
    body = gql_post(core_api, "query { slow hello }").json()
    assert body["data"] == {"slow": None, "hello": "Hello, world!"}
    [err] = body["errors"]
    assert (err["errorType"], err["message"]) == ("ExecutionTimeout", "Execution timed out.")
    assert gql_post(core_api, "{ hello }").json() == {"data": {"hello": "Hello, world!"}}


def test_directive_denies_a_field_the_caller_mode_may_not_read_and_siblings_resolve(
    core_api: EmulatorHandle,
) -> None:
    body = gql_post(core_api, 'query { iamOnly fail(kind: "ok") { id secret } }').json()
    assert body["data"] == {"iamOnly": None, "fail": {"id": "1", "secret": None}}
    messages = sorted(e["message"] for e in body["errors"])
    assert messages == [
        "Not Authorized to access iamOnly on type Query",
        "Not Authorized to access secret on type Item",
    ]
    assert {e["errorType"] for e in body["errors"]} == {"Unauthorized"}


def test_subscription_sent_over_http_is_refused(core_api: EmulatorHandle) -> None:
    r = gql_post(core_api, "subscription { onCreateItem { id } }")
    assert r.status_code == 400
    assert r.json()["errors"][0]["errorType"] == "UnsupportedOperation"


def test_pipeline_threads_stash_and_prev_result_through_functions(core_api: EmulatorHandle) -> None:
    full = gql_post(core_api, "query { steps(x: 5) }").json()["data"]["steps"]
    assert full == 'before>A>B|{"prev":{"a":{"fromBefore":{"start":5}}}}'
    early = gql_post(core_api, "query { steps(x: 0) }").json()["data"]["steps"]
    assert early == 'before|"early"'
    skip_next = gql_post(core_api, "query { steps(x: 1) }").json()["data"]["steps"]
    assert skip_next == 'before>A>B|{"prev":{"skipped":"A"}}'


def test_auth_type_and_api_environment_reach_the_resolver(core_api: EmulatorHandle) -> None:
    assert gql_post(core_api, "{ whoami }").json() == {"data": {"whoami": "API Key Authorization|test"}}


def test_ctx_info_and_request_headers_have_appsync_shape(core_api: EmulatorHandle) -> None:
    import json

    info = json.loads(gql_post(core_api, "query Q { info }").json()["data"]["info"])
    assert info["info"]["fieldName"] == "info"
    assert info["info"]["parentTypeName"] == "Query"
    assert info["info"]["selectionSetList"] == []
    assert info["info"]["selectionSetGraphQL"] == ""
    assert "x-api-key" in info["headers"] and "host" in info["headers"]
    assert info["source"] is None and info["identity"] is None


def test_awsjson_argument_reaches_the_resolver_as_a_map(core_api: EmulatorHandle) -> None:
    r = gql_post(core_api, "query Q($v: AWSJSON) { echoJson(v: $v) }", {"v": '{"a":1}'})
    import json

    assert json.loads(r.json()["data"]["echoJson"]) == {"seen": {"a": 1}, "aIsOne": True}


def test_cors_preflight_allows_the_headers_amplify_sends(core_api: EmulatorHandle) -> None:
    r = httpx.options(
        core_api.graphql_url,
        headers={
            "origin": "http://localhost:3000",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,x-api-key,x-amz-user-agent,x-amz-date",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "x-amz-user-agent" in r.headers["access-control-allow-headers"]
    post = gql_post(core_api, "{ hello }", origin="http://localhost:3000")
    assert post.headers["access-control-allow-origin"] == "*"


def test_body_over_the_size_limit_is_refused_and_the_server_keeps_serving(core_api: EmulatorHandle) -> None:
    body = b'{"query": "{ hello }", "pad": "' + b"x" * (10 * 1024 * 1024 + 1) + b'"}'
    r = httpx.post(
        core_api.graphql_url,
        content=body,
        headers={"x-api-key": core_api.api_key or "", "content-type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["errors"][0]["errorType"] == "PayloadTooLargeException"
    assert gql_post(core_api, "{ hello }").json() == {"data": {"hello": "Hello, world!"}}
