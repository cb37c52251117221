"""The CloudFormation template: rendered from the table definition, committed, self-consistent."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from gridportal.adapters import infra_template
from gridportal.adapters.infra_template import (
    ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY,
    API_HEADERS,
    CACHING_DISABLED_POLICY,
    FINGERPRINT_PATTERNS,
    IMMUTABLE_CACHE,
    IMMUTABLE_MAX_AGE,
    INDEX_FUNCTION_CODE,
    NOT_FOUND_FUNCTION_CODE,
    SECURITY_HEADERS,
    SHORT_CACHE,
    STATE_PREFIX,
    UPGRADE_STEPS,
    cache_control_for,
    is_fingerprinted,
    render,
    render_json,
    table_resource,
    upgrade_definition,
)
from gridportal.adapters.tables import (
    CHANGED_SHARDS,
    QUEUE_ATTRIBUTES,
    TIME_TO_LIVE,
    TTL_ATTRIBUTE,
    changed_shard,
    table_definition,
)
from support.browser import chromium

COMMITTED = Path(__file__).resolve().parents[2] / "infra" / "template.json"
PSEUDO_PARAMETERS = {"AWS::AccountId", "AWS::NoValue", "AWS::Partition", "AWS::Region"}
PSEUDO_PARAMETERS |= {"AWS::StackName", "AWS::URLSuffix"}
# Attributes of a case item that name or describe a person, or hash a resident's secret.
PRIVATE_ATTRIBUTES = {"contact_name", "contact_phone", "location", "description"}
PRIVATE_ATTRIBUTES |= {"lookup_hash", "vote_hash", "idempotency_key"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return render()


def resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]


def distribution(template: dict[str, Any]) -> dict[str, Any]:
    (only,) = resources(template, "AWS::CloudFront::Distribution")
    config: dict[str, Any] = only["DistributionConfig"]
    return config


def test_the_committed_template_is_the_rendered_one() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render_json(), (
        "infra/template.json is out of date; regenerate it with "
        "`python -m gridportal.adapters.infra_template > infra/template.json`"
    )


def test_the_table_is_the_one_definition(template: dict[str, Any]) -> None:
    (table,) = resources(template, "AWS::DynamoDB::Table")
    definition = table_definition()
    for key in ("BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes"):
        assert table[key] == definition[key]
    assert table["TableName"] == {"Ref": "TableName"}
    assert template["Parameters"]["TableName"]["Default"] == definition["TableName"]
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert template["Resources"]["CaseTable"]["DeletionPolicy"] == "Retain"


def test_the_table_expires_attempts_and_idempotency_keys(template: dict[str, Any]) -> None:
    (table,) = resources(template, "AWS::DynamoDB::Table")
    assert table["TimeToLiveSpecification"] == TIME_TO_LIVE
    assert TIME_TO_LIVE == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


def test_indexes_copy_no_contact_data_free_text_or_hashes(template: dict[str, Any]) -> None:
    (table,) = resources(template, "AWS::DynamoDB::Table")
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"by_unit", "changed"}  # by_grid_month served only tests: gone
    for index in indexes.values():
        projection = index["Projection"]
        assert projection["ProjectionType"] in ("KEYS_ONLY", "INCLUDE")  # never ALL
        assert not set(projection.get("NonKeyAttributes", ())) & PRIVATE_ATTRIBUTES
    assert indexes["changed"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    queue = indexes["by_unit"]["Projection"]
    assert set(queue["NonKeyAttributes"]) == set(QUEUE_ATTRIBUTES)
    # What a queue line shows, deadlines included, is there: no read per case.
    needed = {"category", "grid", "filed_at", "status", "unit", "updated_at", "seq"}
    needed |= {"priority", "route", "contacted_at", "extended_due"}
    assert needed <= set(QUEUE_ATTRIBUTES)


def test_the_changed_index_is_sharded() -> None:
    (changed,) = [
        i for i in table_definition()["GlobalSecondaryIndexes"] if i["IndexName"] == "changed"
    ]
    assert [k["AttributeName"] for k in changed["KeySchema"]] == ["ch_pk", "ch_sk"]
    assert CHANGED_SHARDS > 1
    shards = {changed_shard(f"{n:012d}") for n in range(100_000_000_000, 100_000_000_400)}
    assert shards == set(range(CHANGED_SHARDS))  # every shard used, none beyond


def _indexes(definition: dict[str, Any]) -> dict[str, Any]:
    return {index["IndexName"]: index for index in definition["GlobalSecondaryIndexes"]}


EARLIER = {  # the table as versions before the narrowed indexes made it
    name: {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": f"{prefix}_pk", "KeyType": "HASH"},
            {"AttributeName": f"{prefix}_sk", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    for name, prefix in (("by_grid_month", "gm"), ("by_unit", "unit"), ("changed", "ch"))
}


def test_the_upgrade_adds_or_deletes_one_index_per_deploy_and_ends_at_the_template() -> None:
    steps = [EARLIER] + [_indexes(upgrade_definition(n)) for n in range(1, len(UPGRADE_STEPS) + 1)]
    for before, after in pairwise(steps):
        added, deleted = set(after) - set(before), set(before) - set(after)
        assert len(added) + len(deleted) == 1, (sorted(before), sorted(after))
        for name in set(before) & set(after):  # DynamoDB never changes an index in place
            assert before[name] == after[name], name
    assert upgrade_definition(len(UPGRADE_STEPS)) == table_definition()
    for n in range(1, len(UPGRADE_STEPS) + 1):
        definition = upgrade_definition(n)
        keys = {k["AttributeName"] for k in definition["KeySchema"]}
        keys |= {
            k["AttributeName"] for i in definition["GlobalSecondaryIndexes"] for k in i["KeySchema"]
        }
        assert {a["AttributeName"] for a in definition["AttributeDefinitions"]} == keys
    with pytest.raises(ValueError):
        upgrade_definition(0)


def test_an_upgrade_step_renders_a_whole_template(capsys: pytest.CaptureFixture[str]) -> None:
    infra_template.main(["--upgrade-step", "3"])
    rendered = json.loads(capsys.readouterr().out)
    assert rendered == render(3)
    table = rendered["Resources"]["CaseTable"]["Properties"]
    assert table["GlobalSecondaryIndexes"] == upgrade_definition(3)["GlobalSecondaryIndexes"]
    assert {k: v for k, v in rendered.items() if k != "Resources"} == {
        k: v for k, v in render().items() if k != "Resources"
    }


def test_a_table_setting_without_a_mapping_is_an_error() -> None:
    with pytest.raises(ValueError, match="StreamSpecification"):
        table_resource({**table_definition(), "StreamSpecification": {}})


def test_the_site_bucket_is_private_and_versioned(template: dict[str, Any]) -> None:
    (bucket,) = resources(template, "AWS::S3::Bucket")
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    (policy,) = resources(template, "AWS::S3::BucketPolicy")
    allowed = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allowed and all(
        s["Principal"] == {"Service": "cloudfront.amazonaws.com"} for s in allowed
    )
    for statement in allowed:  # this distribution only, through Origin Access Control
        source = statement["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
        assert source.endswith(":distribution/${Distribution}")
    # The build's own state shares the bucket and is never served.
    (state,) = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if s["Action"] == "s3:GetObject" and s["Effect"] == "Deny"
    ]
    assert state["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert state["Resource"] == {"Fn::Sub": "${SiteBucket.Arn}/" + STATE_PREFIX + "*"}


def test_the_site_is_served_through_origin_access_control(template: dict[str, Any]) -> None:
    config = distribution(template)
    site_origin = next(
        o for o in config["Origins"] if isinstance(o, dict) and o.get("Id") == "site"
    )
    assert site_origin["OriginAccessControlId"] == {"Fn::GetAtt": ["SiteOriginAccessControl", "Id"]}
    default = config["DefaultCacheBehavior"]
    assert default["TargetOriginId"] == "site"
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert default["ResponseHeadersPolicyId"] == {"Ref": "SiteHeadersPolicy"}
    assert "CustomErrorResponses" not in config  # they would rewrite the API's JSON errors


def test_api_is_uncached_and_gets_every_viewer_header(template: dict[str, Any]) -> None:
    config = distribution(template)
    (api,) = [b for b in config["CacheBehaviors"] if "Fn::If" in b]
    condition, behaviour, _ = api["Fn::If"]
    assert condition == "HasApi"
    assert behaviour["PathPattern"] == "/api/*" and behaviour["TargetOriginId"] == "api"
    assert behaviour["CachePolicyId"] == CACHING_DISABLED_POLICY
    assert behaviour["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY
    assert {"POST", "OPTIONS"} <= set(behaviour["AllowedMethods"])
    assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "ApiHeadersPolicy"}
    api_origin = config["Origins"][1]["Fn::If"][1]
    assert api_origin["DomainName"] == {"Ref": "ApiDomainName"}
    assert api_origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"


def test_the_edge_adds_the_same_headers_as_the_local_server(template: dict[str, Any]) -> None:
    expected = dict(SECURITY_HEADERS)
    for name in ("SiteHeadersPolicy", "ApiHeadersPolicy"):
        config = template["Resources"][name]["Properties"]["ResponseHeadersPolicyConfig"]
        security = config["SecurityHeadersConfig"]
        csp = security["ContentSecurityPolicy"]["ContentSecurityPolicy"]
        assert csp == expected["Content-Security-Policy"]
        assert security["ReferrerPolicy"]["ReferrerPolicy"] == expected["Referrer-Policy"]
        assert security["ContentTypeOptions"] == {"Override": True}  # nosniff
    assert set(expected) == {"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"}
    custom = template["Resources"]["ApiHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    items = custom["CustomHeadersConfig"]["Items"]
    assert [(item["Header"], item["Value"]) for item in items] == list(API_HEADERS)


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_every_reference_names_something_defined(template: dict[str, Any]) -> None:
    known = set(template["Parameters"]) | set(template["Resources"]) | PSEUDO_PARAMETERS
    conditions = set(template["Conditions"])
    for key, value in walk(template):
        if key == "Ref":
            assert value in known, value
        elif key == "Fn::GetAtt":
            assert value[0] in template["Resources"], value
        elif key == "Fn::Sub":
            for name in _sub_names(value):
                assert name.split(".")[0] in known, name
        elif key == "Fn::If":
            assert value[0] in conditions, value


def _sub_names(text: str) -> list[str]:
    names, rest = [], text
    while "${" in rest:
        rest = rest.split("${", 1)[1]
        name, rest = rest.split("}", 1)
        names.append(name)
    return names


def test_the_module_prints_the_template(capsys: pytest.CaptureFixture[str]) -> None:
    infra_template.main()
    assert json.loads(capsys.readouterr().out) == render()


@pytest.mark.browser
def test_the_index_function_rewrites_like_the_local_server() -> None:
    # CloudFront Functions are JavaScript: run the very code in Chromium's engine.
    cases = [
        ({"uri": "/", "querystring": {}}, {"uri": "/index.html"}),
        ({"uri": "/cases/abc/", "querystring": {}}, {"uri": "/cases/abc/index.html"}),
        ({"uri": "/theme.css", "querystring": {}}, {"uri": "/theme.css"}),
        ({"uri": "/cases/abc", "querystring": {}}, {"location": "/cases/abc/"}),
        (
            {"uri": "/cases/abc", "querystring": {"from": {"value": "qr"}}},
            {"location": "/cases/abc/?from=qr"},
        ),
        (
            {
                "uri": "/g",
                "querystring": {
                    "a": {"value": "1", "multiValue": [{"value": "1"}, {"value": "2"}]}
                },
            },
            {"location": "/g/?a=1&a=2"},
        ),
        ({"uri": "//evil.example", "querystring": {}}, {"uri": "//evil.example"}),
        ({"uri": "//evil", "querystring": {}}, {"location": "/evil/"}),
    ]
    with chromium() as browser:
        page = browser.new_page()
        for request, expected in cases:
            result = page.evaluate(
                "([code, request]) => {"
                "  const handler = new Function(code + '; return handler;')();"
                "  const out = handler({request: request});"
                "  return out.statusCode === 301"
                "    ? {location: out.headers.location.value} : {uri: out.uri};"
                "}",
                [INDEX_FUNCTION_CODE, request],
            )
            assert result == expected, request


def test_fingerprinted_assets_are_cached_for_a_year_and_the_rest_for_minutes(
    template: dict[str, Any],
) -> None:
    config = distribution(template)
    assets = [b for b in config["CacheBehaviors"] if "PathPattern" in b]
    assert [b["PathPattern"] for b in assets] == list(FINGERPRINT_PATTERNS)
    for behaviour in [*assets, config["DefaultCacheBehavior"]]:
        assert behaviour["Compress"] is True
        assert behaviour["TargetOriginId"] == "site"
    policy = template["Resources"]["AssetCachePolicy"]["Properties"]["CachePolicyConfig"]
    assert policy["MinTTL"] == policy["DefaultTTL"] == IMMUTABLE_MAX_AGE
    parameters = policy["ParametersInCacheKeyAndForwardedToOrigin"]
    assert parameters["EnableAcceptEncodingBrotli"] and parameters["EnableAcceptEncodingGzip"]

    def cache_header(name: str) -> dict[str, Any]:
        config = template["Resources"][name]["Properties"]["ResponseHeadersPolicyConfig"]
        (item,) = config["CustomHeadersConfig"]["Items"]
        assert item["Header"] == "Cache-Control"
        return item

    assert cache_header("AssetHeadersPolicy") == {
        "Header": "Cache-Control",
        "Value": IMMUTABLE_CACHE,
        "Override": True,
    }
    site = cache_header("SiteHeadersPolicy")
    assert site["Value"] == SHORT_CACHE and site["Override"] is False
    assert all(b["ResponseHeadersPolicyId"] == {"Ref": "AssetHeadersPolicy"} for b in assets)


@pytest.mark.parametrize(
    ("key", "fingerprinted"),
    [
        ("theme/css/portal.0123456789.css", True),
        ("theme/js/search.abcdef0123.js", True),
        ("theme/css/portal.css", False),
        ("theme/css/portal.0123456789.css.br", False),
        ("theme/css/portal.012345678.css", False),  # one digit short
        ("cases/abc/index.html", False),
        ("data/x.0123456789.js", False),  # only the theme's files
    ],
)
def test_what_counts_as_fingerprinted(key: str, fingerprinted: bool) -> None:
    assert is_fingerprinted(key) is fingerprinted
    assert cache_control_for(key) == (IMMUTABLE_CACHE if fingerprinted else SHORT_CACHE)
    # The edge's path patterns say the same (CloudFront's ? is one character, * any run).
    import fnmatch

    matched = any(fnmatch.fnmatchcase("/" + key, p) for p in FINGERPRINT_PATTERNS)
    assert matched is fingerprinted or key.startswith("data/")


def test_the_404_page_comes_from_an_origin_response_function_on_site_behaviours_only(
    template: dict[str, Any],
) -> None:
    config = distribution(template)
    assert "CustomErrorResponses" not in config  # they would rewrite the API's JSON errors
    site_behaviours = [config["DefaultCacheBehavior"]] + [
        b for b in config["CacheBehaviors"] if "PathPattern" in b
    ]
    for behaviour in site_behaviours:
        condition, (association,), _ = behaviour["LambdaFunctionAssociations"]["Fn::If"]
        assert condition == "InUsEast1"
        assert association == {
            "EventType": "origin-response",
            "LambdaFunctionARN": {"Ref": "NotFoundFunctionVersion"},
        }
    (api,) = [b for b in config["CacheBehaviors"] if "Fn::If" in b]
    assert "LambdaFunctionAssociations" not in api["Fn::If"][1]
    function = template["Resources"]["NotFoundFunction"]
    assert function["Condition"] == "InUsEast1"
    assert function["Properties"]["Code"]["ZipFile"] == NOT_FOUND_FUNCTION_CODE


def _run_not_found(response: dict[str, Any], uri: str, page: str | None) -> dict[str, Any]:
    """The origin-response function under Node, with https.get answering ``page``."""
    harness = (
        "const Module = require('module');"
        "const original = Module._load;"
        "const page = JSON.parse(process.argv[2]);"
        "Module._load = function (name) {"
        "  if (name !== 'https') { return original.apply(this, arguments); }"
        "  return { get: function (options, callback) {"
        "    const res = new (require('events'))();"
        "    res.statusCode = page === null ? 404 : 200;"
        "    const req = new (require('events'))(); req.destroy = function () {};"
        "    setImmediate(function () { callback(res);"
        "      if (page !== null) { res.emit('data', Buffer.from(page)); } res.emit('end'); });"
        "    return req; } };"
        "};"
        "const m = { exports: {} };"
        "new Function('require', 'exports', 'module', process.argv[1])(require, m.exports, m);"
        "const event = JSON.parse(process.argv[3]);"
        "m.exports.handler(event).then(function (out) {"
        "  process.stdout.write(JSON.stringify(out)); });"
    )
    event = {
        "Records": [
            {
                "cf": {
                    "config": {"distributionDomainName": "d123.cloudfront.net"},
                    "request": {"uri": uri},
                    "response": response,
                }
            }
        ]
    }
    done = subprocess.run(
        ["node", "-e", harness, NOT_FOUND_FUNCTION_CODE, json.dumps(page), json.dumps(event)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_404_function_answers_404_with_the_sites_page() -> None:
    missing = {"status": "403", "statusDescription": "Forbidden", "headers": {}}
    out = _run_not_found(missing, "/cases/nope/index.html", "<h1>页面不存在</h1>")
    assert out["status"] == "404" and out["body"] == "<h1>页面不存在</h1>"
    assert out["headers"]["content-type"][0]["value"].startswith("text/html")
    found = {"status": "200", "statusDescription": "OK", "headers": {}}
    assert _run_not_found(found, "/index.html", "x") == found
    # No 404 page: the bucket's answer stands; asking for the 404 page never loops.
    assert _run_not_found(missing, "/cases/nope/index.html", None) == missing
    assert _run_not_found(missing, "/404.html", "x") == missing
