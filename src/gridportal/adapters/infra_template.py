"""The CloudFormation template of the portal's storage and edge (存储与分发), rendered from code.

One stack holds what outlives a deployment of the functions: the DynamoDB table (from
``tables.table_definition()``, the one definition the local set-up and the tests use too),
the private site bucket and the CloudFront distribution that serves the site at ``/*`` and
the API (the stack ``chalice package`` makes, see docs/deployment.md) at ``/api/*`` on one
origin. The local server (local_server.py) copies this edge's headers and index rules.

``infra/template.json`` is this module's output, committed; regenerate it with::

    python -m gridportal.adapters.infra_template > infra/template.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from gridportal.adapters.tables import TIME_TO_LIVE, table_definition

# Headers on every response, site and API alike (the edge adds them; so does the local server).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        # WebAssembly for the site search (Pagefind) only: every page's own meta policy
        # leaves it out, except the search page's (base.html, search.html).
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)
# API answers are personal (a lookup shows one resident's case): no cache may keep them.
API_HEADERS: tuple[tuple[str, str], ...] = (("Cache-Control", "no-store"),)

API_PATH_PATTERN = "/api/*"
# The site's HTML changes every night; five minutes at the edge keeps it fresh without
# invalidations. Files with their own Cache-Control (set by the publisher) keep theirs.
SITE_DEFAULT_TTL = 300
SITE_MAX_TTL = 86400

# Fingerprinted assets (资源指纹): the theme's CSS and JS are also published under a name
# holding the first FINGERPRINT_HEX hex digits of their SHA-256 (portal.3f2a9c01be.css),
# and pages link to that name; a changed file is a new name, so the old one may be kept
# for a year. Everything else (HTML, data, QR codes, posters) is short-cached.
FINGERPRINT_HEX = 10
_FINGERPRINTED = re.compile(rf"theme/.+\.[0-9a-f]{{{FINGERPRINT_HEX}}}\.(css|js)\Z")
IMMUTABLE_MAX_AGE = 31536000
IMMUTABLE_CACHE = f"public, max-age={IMMUTABLE_MAX_AGE}, immutable"
SHORT_CACHE = f"public, max-age={SITE_DEFAULT_TTL}"
# CloudFront path patterns know * and ? only: one ? per hex digit of the fingerprint.
FINGERPRINT_PATTERNS = tuple(
    f"/theme/*.{'?' * FINGERPRINT_HEX}.{extension}" for extension in ("css", "js")
)


# The build's own state (manifests, tallies, a night's scratch space with tracking
# numbers) lives in the site bucket beside the pages and is never served: publication is
# an allowlist, and the edge and the local origin answer 404 under this prefix.
STATE_PREFIX = "_state/"


def is_fingerprinted(key: str) -> bool:
    """Whether a site key names a fingerprinted asset (``theme/css/portal.<hex>.css``)."""
    return _FINGERPRINTED.match(key) is not None


def cache_control_for(key: str) -> str:
    """The Cache-Control of a site file: a year for fingerprinted assets, minutes otherwise."""
    return IMMUTABLE_CACHE if is_fingerprinted(key) else SHORT_CACHE


# AWS-managed CloudFront policies, referred to by their fixed ids.
CACHING_DISABLED_POLICY = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY = "b689b0a8-53d0-40ab-baf2-68738e2966ac"

# Behind Origin Access Control S3 has no index documents: this viewer-request function maps
# /x/ to /x/index.html and sends /x (no extension) to /x/, as the local server does.
INDEX_FUNCTION_CODE = """\
function handler(event) {
  var request = event.request;
  var uri = request.uri;
  if (uri.endsWith('/')) {
    request.uri = uri + 'index.html';
    return request;
  }
  var last = uri.substring(uri.lastIndexOf('/') + 1);
  if (last.indexOf('.') !== -1) {
    return request;
  }
  // One leading slash only: '//host' would be a redirect to another site.
  var location = '/' + uri.replace(/^\\/+/, '') + '/' + querySuffix(request.querystring);
  return {
    statusCode: 301,
    statusDescription: 'Moved Permanently',
    headers: { location: { value: location } }
  };
}

function querySuffix(querystring) {
  var parts = [];
  for (var name in querystring) {
    var entry = querystring[name];
    var values = entry.multiValue ? entry.multiValue : [entry];
    for (var i = 0; i < values.length; i++) {
      parts.push(values[i].value === '' ? name : name + '=' + values[i].value);
    }
  }
  return parts.length ? '?' + parts.join('&') : '';
}
"""

# The styled 404 page (404.html, rendered by the build). CloudFront's CustomErrorResponses
# would serve it, but they act on every origin's errors and would replace the API's JSON
# 403s and 404s (a lookup's "not found") with a page. This origin-response function runs on
# the site's behaviours only: when the bucket answers 403 or 404 (Origin Access Control
# makes a missing key a 403 without ListBucket, a 404 with it), it answers 404 with the
# site's own 404.html, fetched through the distribution (so it is cached at the edge like
# any page). Lambda@Edge lives in us-east-1: elsewhere the condition leaves it out, and a
# missing page gets the bucket's bare error.
NOT_FOUND_KEY = "404.html"  # the function below names it too
NOT_FOUND_FUNCTION_CODE = """\
'use strict';
const https = require('https');

function fetchPage(host, path) {
  return new Promise(function (resolve) {
    const request = https.get({ host: host, path: path, timeout: 3000 }, function (res) {
      const chunks = [];
      res.on('data', function (chunk) { chunks.push(chunk); });
      res.on('end', function () {
        resolve(res.statusCode === 200 ? Buffer.concat(chunks).toString('utf8') : null);
      });
    });
    request.on('timeout', function () { request.destroy(); });
    request.on('error', function () { resolve(null); });
  });
}

exports.handler = async function (event) {
  const cf = event.Records[0].cf;
  const response = cf.response;
  const status = parseInt(response.status, 10);
  // The 404 page itself missing must not ask for itself again.
  if ((status !== 403 && status !== 404) || cf.request.uri === '/404.html') {
    return response;
  }
  const body = await fetchPage(cf.config.distributionDomainName, '/404.html');
  if (body === null) {
    return response;
  }
  return {
    status: '404',
    statusDescription: 'Not Found',
    headers: {
      'content-type': [{ key: 'Content-Type', value: 'text/html; charset=utf-8' }],
      'cache-control': [{ key: 'Cache-Control', value: 'no-cache' }]
    },
    body: body
  };
};
"""

# Keys of table_definition() that CloudFormation spells exactly as DynamoDB's API does.
_SAME_IN_CLOUDFORMATION = (
    "BillingMode",
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
)


# Tables made before the indexes were narrowed had three, each projecting ALL (contact data
# included). DynamoDB adds or deletes one index per update and never changes one in place,
# so such a table reaches today's indexes in these deploys of the infra stack, each naming
# the indexes it leaves ("earlier:" marks the old form). Rendered with --upgrade-step N.
_EARLIER_INDEXES: dict[str, tuple[str, str]] = {
    "by_grid_month": ("gm_pk", "gm_sk"),
    "by_unit": ("unit_pk", "unit_sk"),
    "changed": ("ch_pk", "ch_sk"),
}
UPGRADE_STEPS: tuple[tuple[str, ...], ...] = (
    ("earlier:by_unit", "earlier:changed"),  # 1: by_grid_month goes
    ("earlier:changed",),  # 2: the old queue index goes (staff queues wait from here)
    ("earlier:changed", "by_unit"),  # 3: the queue index without personal data
    ("by_unit",),  # 4: the old changed index goes (no nightly build from here)
    ("by_unit", "changed"),  # 5: the sharded changed index, keys only: today's template
)


def upgrade_definition(step: int) -> dict[str, Any]:
    """tables.table_definition() with the indexes of upgrade step ``step`` (1-based)."""
    if not 1 <= step <= len(UPGRADE_STEPS):
        raise ValueError(f"upgrade steps are 1 to {len(UPGRADE_STEPS)}")
    definition = table_definition()
    today = {index["IndexName"]: index for index in definition["GlobalSecondaryIndexes"]}
    indexes: list[dict[str, Any]] = []
    for name in UPGRADE_STEPS[step - 1]:
        if name.startswith("earlier:"):
            index_name = name.removeprefix("earlier:")
            pk, sk = _EARLIER_INDEXES[index_name]
            indexes.append(
                {
                    "IndexName": index_name,
                    "KeySchema": [
                        {"AttributeName": pk, "KeyType": "HASH"},
                        {"AttributeName": sk, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            )
        else:
            indexes.append(today[name])
    # DynamoDB refuses attribute definitions that no key uses; the order is the table's.
    keys = [*definition["KeySchema"], *(k for index in indexes for k in index["KeySchema"])]
    used = dict.fromkeys(k["AttributeName"] for k in keys)
    return {
        **definition,
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in used],
        "GlobalSecondaryIndexes": indexes,
    }


def _ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def _if(condition: str, then: Any, otherwise: Any = None) -> dict[str, Any]:
    return {"Fn::If": [condition, then, otherwise or _ref("AWS::NoValue")]}


def table_resource(definition: dict[str, Any] | None = None) -> dict[str, Any]:
    """The table as a CloudFormation resource (``definition``: tables.table_definition())."""
    definition = definition or table_definition()
    unknown = set(definition) - {"TableName", *_SAME_IN_CLOUDFORMATION}
    if unknown:
        raise ValueError(f"map these table settings to CloudFormation first: {sorted(unknown)}")
    properties: dict[str, Any] = {"TableName": _ref("TableName")}
    properties.update({key: definition[key] for key in _SAME_IN_CLOUDFORMATION})
    properties.update(
        {
            # Attempt and idempotency items carry expires_at; create_table turns this on too.
            "TimeToLiveSpecification": TIME_TO_LIVE,
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
            "DeletionProtectionEnabled": True,
        }
    )
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": properties,
    }


def _site_bucket() -> dict[str, Any]:
    return {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketName": _if("HasSiteBucketName", _ref("SiteBucketName")),
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        # Every nightly upload leaves the old page as a version: keep a month.
                        "Id": "expire-old-versions",
                        "Status": "Enabled",
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                    }
                ]
            },
        },
    }


def _site_bucket_policy() -> dict[str, Any]:
    from_this_distribution = {
        "StringEquals": {
            "AWS:SourceArn": _sub(
                "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}"
            )
        }
    }
    cloudfront = {"Service": "cloudfront.amazonaws.com"}
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": _ref("SiteBucket"),
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "CloudFrontReadsObjects",
                        "Effect": "Allow",
                        "Principal": cloudfront,
                        "Action": "s3:GetObject",
                        "Resource": _sub("${SiteBucket.Arn}/*"),
                        "Condition": from_this_distribution,
                    },
                    {
                        "Sid": "CloudFrontNeverReadsBuildState",
                        "Effect": "Deny",
                        "Principal": cloudfront,
                        "Action": "s3:GetObject",
                        "Resource": _sub("${SiteBucket.Arn}/" + STATE_PREFIX + "*"),
                    },
                    {
                        # Lets a missing page be a 404 rather than S3's 403.
                        "Sid": "CloudFrontListsKeys",
                        "Effect": "Allow",
                        "Principal": cloudfront,
                        "Action": "s3:ListBucket",
                        "Resource": _sub("${SiteBucket.Arn}"),
                        "Condition": from_this_distribution,
                    },
                    {
                        "Sid": "TlsOnly",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [_sub("${SiteBucket.Arn}"), _sub("${SiteBucket.Arn}/*")],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                ],
            },
        },
    }


def _headers_policy(
    name: str, comment: str, extra: tuple[tuple[str, str], ...], *, override: bool = True
) -> dict:
    """Security headers plus ``extra``; with ``override`` False an origin's own value of an
    extra header wins (a file uploaded with its own Cache-Control keeps it)."""
    values = dict(SECURITY_HEADERS)
    config: dict[str, Any] = {
        "Name": _sub("${AWS::StackName}-" + name),
        "Comment": comment,
        "SecurityHeadersConfig": {
            "ContentSecurityPolicy": {
                "ContentSecurityPolicy": values["Content-Security-Policy"],
                "Override": True,
            },
            "ContentTypeOptions": {"Override": True},
            "ReferrerPolicy": {"ReferrerPolicy": values["Referrer-Policy"], "Override": True},
            "StrictTransportSecurity": {
                "AccessControlMaxAgeSec": 63072000,
                "IncludeSubdomains": False,
                "Preload": False,
                "Override": True,
            },
        },
    }
    if extra:
        config["CustomHeadersConfig"] = {
            "Items": [
                {"Header": header, "Value": value, "Override": override} for header, value in extra
            ]
        }
    return {
        "Type": "AWS::CloudFront::ResponseHeadersPolicy",
        "Properties": {"ResponseHeadersPolicyConfig": config},
    }


def _site_cache_policy() -> dict[str, Any]:
    return {
        "Type": "AWS::CloudFront::CachePolicy",
        "Properties": {
            "CachePolicyConfig": {
                "Name": _sub("${AWS::StackName}-site"),
                "Comment": "Static site: short default TTL, no cookies or query strings",
                "MinTTL": 0,
                "DefaultTTL": SITE_DEFAULT_TTL,
                "MaxTTL": SITE_MAX_TTL,
                "ParametersInCacheKeyAndForwardedToOrigin": {
                    "EnableAcceptEncodingGzip": True,
                    "EnableAcceptEncodingBrotli": True,
                    "HeadersConfig": {"HeaderBehavior": "none"},
                    "CookiesConfig": {"CookieBehavior": "none"},
                    "QueryStringsConfig": {"QueryStringBehavior": "none"},
                },
            }
        },
    }


def _asset_cache_policy() -> dict[str, Any]:
    return {
        "Type": "AWS::CloudFront::CachePolicy",
        "Properties": {
            "CachePolicyConfig": {
                "Name": _sub("${AWS::StackName}-assets"),
                "Comment": "Fingerprinted CSS and JS: a changed file is a new name, keep a year",
                "MinTTL": IMMUTABLE_MAX_AGE,
                "DefaultTTL": IMMUTABLE_MAX_AGE,
                "MaxTTL": IMMUTABLE_MAX_AGE,
                "ParametersInCacheKeyAndForwardedToOrigin": {
                    "EnableAcceptEncodingGzip": True,
                    "EnableAcceptEncodingBrotli": True,
                    "HeadersConfig": {"HeaderBehavior": "none"},
                    "CookiesConfig": {"CookieBehavior": "none"},
                    "QueryStringsConfig": {"QueryStringBehavior": "none"},
                },
            }
        },
    }


def _not_found_resources() -> dict[str, Any]:
    """The origin-response function that serves 404.html (see NOT_FOUND_FUNCTION_CODE)."""
    condition = "InUsEast1"
    return {
        "NotFoundRole": {
            "Type": "AWS::IAM::Role",
            "Condition": condition,
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {
                                "Service": ["lambda.amazonaws.com", "edgelambda.amazonaws.com"]
                            },
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "ManagedPolicyArns": [
                    _sub(
                        "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                        "AWSLambdaBasicExecutionRole"
                    )
                ],
            },
        },
        "NotFoundFunction": {
            "Type": "AWS::Lambda::Function",
            "Condition": condition,
            "Properties": {
                "Description": "Site 404s: the site's own 404.html with status 404",
                "Runtime": "nodejs20.x",
                "Handler": "index.handler",
                "MemorySize": 128,
                "Timeout": 5,
                "Role": {"Fn::GetAtt": ["NotFoundRole", "Arn"]},
                "Code": {"ZipFile": NOT_FOUND_FUNCTION_CODE},
            },
        },
        "NotFoundFunctionVersion": {
            "Type": "AWS::Lambda::Version",
            "Condition": condition,
            "Properties": {"FunctionName": _ref("NotFoundFunction")},
        },
    }


def _distribution() -> dict[str, Any]:
    site_origin = {
        "Id": "site",
        "DomainName": {"Fn::GetAtt": ["SiteBucket", "RegionalDomainName"]},
        "S3OriginConfig": {"OriginAccessIdentity": ""},
        "OriginAccessControlId": {"Fn::GetAtt": ["SiteOriginAccessControl", "Id"]},
    }
    api_origin = {
        "Id": "api",
        "DomainName": _ref("ApiDomainName"),
        "CustomOriginConfig": {
            "OriginProtocolPolicy": "https-only",
            "OriginSSLProtocols": ["TLSv1.2"],
            "HTTPSPort": 443,
            "OriginReadTimeout": 30,
        },
    }
    api_behaviour = {
        # API Gateway's stage is named "api" (Chalice's default), so /api/x reaches route /x.
        "PathPattern": API_PATH_PATTERN,
        "TargetOriginId": "api",
        "ViewerProtocolPolicy": "https-only",
        "AllowedMethods": ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
        "CachedMethods": ["GET", "HEAD"],
        "Compress": True,
        "CachePolicyId": CACHING_DISABLED_POLICY,
        # With caching disabled this forwards Authorization and Idempotency-Key too.
        "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY,
        "ResponseHeadersPolicyId": _ref("ApiHeadersPolicy"),
    }
    not_found = _if(
        "InUsEast1",
        [
            {
                "EventType": "origin-response",
                "LambdaFunctionARN": _ref("NotFoundFunctionVersion"),
            }
        ],
    )
    asset_behaviours = [
        {
            "PathPattern": pattern,
            "TargetOriginId": "site",
            "ViewerProtocolPolicy": "redirect-to-https",
            "AllowedMethods": ["GET", "HEAD"],
            "CachedMethods": ["GET", "HEAD"],
            "Compress": True,
            "CachePolicyId": _ref("AssetCachePolicy"),
            "ResponseHeadersPolicyId": _ref("AssetHeadersPolicy"),
            "LambdaFunctionAssociations": not_found,
        }
        for pattern in FINGERPRINT_PATTERNS
    ]
    return {
        "Type": "AWS::CloudFront::Distribution",
        "Properties": {
            "DistributionConfig": {
                "Enabled": True,
                "Comment": _sub("${AWS::StackName}: site and /api on one origin"),
                "DefaultRootObject": "index.html",
                "HttpVersion": "http2and3",
                "IPV6Enabled": True,
                "PriceClass": _ref("PriceClass"),
                "Aliases": _if("HasSiteDomain", [_ref("SiteDomainName")]),
                "ViewerCertificate": _if(
                    "HasSiteDomain",
                    {
                        "AcmCertificateArn": _ref("CertificateArn"),
                        "SslSupportMethod": "sni-only",
                        "MinimumProtocolVersion": "TLSv1.2_2021",
                    },
                    {"CloudFrontDefaultCertificate": True},
                ),
                "Origins": [site_origin, _if("HasApi", api_origin)],
                "DefaultCacheBehavior": {
                    "TargetOriginId": "site",
                    "ViewerProtocolPolicy": "redirect-to-https",
                    "AllowedMethods": ["GET", "HEAD"],
                    "CachedMethods": ["GET", "HEAD"],
                    "Compress": True,
                    "CachePolicyId": _ref("SiteCachePolicy"),
                    "ResponseHeadersPolicyId": _ref("SiteHeadersPolicy"),
                    "FunctionAssociations": [
                        {
                            "EventType": "viewer-request",
                            "FunctionARN": {
                                "Fn::GetAtt": ["IndexFunction", "FunctionMetadata.FunctionARN"]
                            },
                        }
                    ],
                    "LambdaFunctionAssociations": not_found,
                },
                # No CustomErrorResponses: they would apply to /api/* too and replace the
                # API's JSON errors (a lookup's 404) with a page; the site's 404 page comes
                # from the origin-response function instead (NOT_FOUND_FUNCTION_CODE).
                "CacheBehaviors": [*asset_behaviours, _if("HasApi", api_behaviour)],
            }
        },
    }


def render(upgrade_step: int | None = None) -> dict[str, Any]:
    """The whole template as a dict (CloudFormation JSON); with ``upgrade_step``, the table
    carries that step's indexes (see UPGRADE_STEPS)."""
    default_table = table_definition()["TableName"]
    table = table_resource(upgrade_definition(upgrade_step) if upgrade_step else None)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            "Grid transparency portal: case table, private site bucket and the CloudFront "
            "distribution serving the site and /api on one origin. Generated by "
            "gridportal.adapters.infra_template; do not edit by hand."
        ),
        "Parameters": {
            "TableName": {
                "Type": "String",
                "Default": default_table,
                "AllowedPattern": "[a-zA-Z0-9_.-]{3,255}",
                "Description": "Name of the DynamoDB table (GRIDPORTAL_TABLE of the functions)",
            },
            "ApiDomainName": {
                "Type": "String",
                "Default": "",
                "AllowedPattern": "[a-z0-9.-]*",
                "Description": (
                    "Domain of the API Gateway REST API from the chalice stack, such as "
                    "abc123.execute-api.cn-north-1.amazonaws.com.cn; empty until it exists"
                ),
            },
            "SiteBucketName": {
                "Type": "String",
                "Default": "",
                "AllowedPattern": "([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])?",
                "Description": (
                    "Name of the site bucket (GRIDPORTAL_SITE_BUCKET of the functions); "
                    "empty lets CloudFormation choose one"
                ),
            },
            "SiteDomainName": {
                "Type": "String",
                "Default": "",
                "Description": "The portal's own domain name (optional)",
            },
            "CertificateArn": {
                "Type": "String",
                "Default": "",
                "Description": "ACM certificate (us-east-1) for SiteDomainName (optional)",
            },
            "PriceClass": {
                "Type": "String",
                "Default": "PriceClass_All",
                "AllowedValues": ["PriceClass_100", "PriceClass_200", "PriceClass_All"],
                "Description": "CloudFront edge locations to use",
            },
        },
        "Conditions": {
            "HasApi": {"Fn::Not": [{"Fn::Equals": [_ref("ApiDomainName"), ""]}]},
            "HasSiteBucketName": {"Fn::Not": [{"Fn::Equals": [_ref("SiteBucketName"), ""]}]},
            "InUsEast1": {"Fn::Equals": [_ref("AWS::Region"), "us-east-1"]},
            "HasSiteDomain": {
                "Fn::And": [
                    {"Fn::Not": [{"Fn::Equals": [_ref("SiteDomainName"), ""]}]},
                    {"Fn::Not": [{"Fn::Equals": [_ref("CertificateArn"), ""]}]},
                ]
            },
        },
        "Resources": {
            "CaseTable": table,
            "SiteBucket": _site_bucket(),
            "SiteBucketPolicy": _site_bucket_policy(),
            "SiteOriginAccessControl": {
                "Type": "AWS::CloudFront::OriginAccessControl",
                "Properties": {
                    "OriginAccessControlConfig": {
                        "Name": _sub("${AWS::StackName}-site"),
                        "Description": "CloudFront signs its requests to the site bucket",
                        "OriginAccessControlOriginType": "s3",
                        "SigningBehavior": "always",
                        "SigningProtocol": "sigv4",
                    }
                },
            },
            "IndexFunction": {
                "Type": "AWS::CloudFront::Function",
                "Properties": {
                    "Name": _sub("${AWS::StackName}-index"),
                    "AutoPublish": True,
                    "FunctionCode": INDEX_FUNCTION_CODE,
                    "FunctionConfig": {
                        "Comment": "/x/ -> /x/index.html; /x -> /x/",
                        "Runtime": "cloudfront-js-2.0",
                    },
                },
            },
            "SiteCachePolicy": _site_cache_policy(),
            "AssetCachePolicy": _asset_cache_policy(),
            "SiteHeadersPolicy": _headers_policy(
                "site-headers",
                "Security headers; pages cached for minutes",
                (("Cache-Control", SHORT_CACHE),),
                override=False,
            ),
            "AssetHeadersPolicy": _headers_policy(
                "asset-headers",
                "Security headers; fingerprinted assets cached for a year",
                (("Cache-Control", IMMUTABLE_CACHE),),
            ),
            **_not_found_resources(),
            "ApiHeadersPolicy": _headers_policy(
                "api-headers", "Security headers; API answers are never stored", API_HEADERS
            ),
            "Distribution": _distribution(),
        },
        "Outputs": {
            "TableName": _output(_ref("CaseTable"), "GRIDPORTAL_TABLE of the functions"),
            "TableArn": _output({"Fn::GetAtt": ["CaseTable", "Arn"]}, "For the IAM policy"),
            "SiteBucketName": _output(
                _ref("SiteBucket"), "GRIDPORTAL_SITE_BUCKET of the nightly build"
            ),
            "SiteBucketArn": _output({"Fn::GetAtt": ["SiteBucket", "Arn"]}, "For the IAM policy"),
            "DistributionId": _output(_ref("Distribution"), "For invalidations"),
            "DistributionDomainName": _output(
                {"Fn::GetAtt": ["Distribution", "DomainName"]},
                "Where the portal answers (point the site's domain here)",
            ),
        },
    }


def _output(value: Any, description: str) -> dict[str, Any]:
    return {"Value": value, "Description": description}


def render_json(upgrade_step: int | None = None) -> str:
    """The template as committed in infra/template.json (or one upgrade step's)."""
    return json.dumps(render(upgrade_step), indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(prog="python -m gridportal.adapters.infra_template")
    parser.add_argument(
        "--upgrade-step",
        type=int,
        choices=range(1, len(UPGRADE_STEPS) + 1),
        help="the template of one step of the index upgrade (docs/deployment.md)",
    )
    args = parser.parse_args(list(argv))
    sys.stdout.write(render_json(args.upgrade_step))


if __name__ == "__main__":
    main(sys.argv[1:])
