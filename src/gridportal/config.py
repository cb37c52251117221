"""Settings from the environment, read once per process (every variable: docs/operations.md).

GRIDPORTAL_STORE chooses where cases live, in one setting: ``sqlite:<file>`` (the embedded
default, ``sqlite:var/portal.db``) or ``dynamodb:<table>`` (on AWS). The site goes to a
directory (GRIDPORTAL_SITE_DIR, default ``var/site`` beside an SQLite store) or to an S3
bucket (GRIDPORTAL_SITE_BUCKET, the default beside DynamoDB). Also GRIDPORTAL_SECRET (or
GRIDPORTAL_SECRET_PARAM, an SSM SecureString), GRIDPORTAL_CONTENT, GRIDPORTAL_SITE_URL,
GRIDPORTAL_PROJECT_ROOT, and boto3's own AWS_ENDPOINT_URL (which points every client at moto
locally) and AWS_DEFAULT_REGION.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gridportal.adapters.tables import TABLE_NAME

SOURCE_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STORE = "sqlite:var/portal.db"
DEFAULT_SITE_DIR = "var/site"
STORE_KINDS = ("sqlite", "dynamodb")


class ConfigError(RuntimeError):
    pass


@dataclass(frozen=True)
class Settings:
    store: str  # "sqlite" or "dynamodb"
    db_path: Path  # the SQLite file (store "sqlite")
    table: str  # the DynamoDB table (store "dynamodb")
    site_dir: Path | None  # the published site as a directory; None: the S3 bucket
    site_bucket: str
    secret: bytes
    content_dir: Path
    site_url: str
    endpoint_url: str | None
    region: str
    project_root: Path  # holds site/, themes/ and content/pages for the Pelican build

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        kind, _, location = env.get("GRIDPORTAL_STORE", DEFAULT_STORE).strip().partition(":")
        if kind not in STORE_KINDS:
            raise ConfigError(f"GRIDPORTAL_STORE={kind!r}: use sqlite:<file> or dynamodb:<table>")
        site_dir = env.get("GRIDPORTAL_SITE_DIR") or (DEFAULT_SITE_DIR if kind == "sqlite" else "")
        return cls(
            store=kind,
            db_path=Path(location if kind == "sqlite" and location else "var/portal.db"),
            table=(location if kind == "dynamodb" and location else "")
            or env.get("GRIDPORTAL_TABLE", TABLE_NAME),
            site_dir=Path(site_dir) if site_dir else None,
            site_bucket=env.get("GRIDPORTAL_SITE_BUCKET", "gridportal-site"),
            secret=_secret(env),
            content_dir=Path(env.get("GRIDPORTAL_CONTENT", SOURCE_ROOT / "content")),
            site_url=env.get("GRIDPORTAL_SITE_URL", "").rstrip("/"),
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            region=env.get("AWS_DEFAULT_REGION", env.get("AWS_REGION", "cn-north-1")),
            project_root=Path(env.get("GRIDPORTAL_PROJECT_ROOT", SOURCE_ROOT)),
        )


def _secret(env: dict[str, str]) -> bytes:
    if value := env.get("GRIDPORTAL_SECRET"):
        return value.encode()
    if parameter := env.get("GRIDPORTAL_SECRET_PARAM"):
        import boto3  # only on AWS, once per cold start

        response = boto3.client("ssm").get_parameter(Name=parameter, WithDecryption=True)
        return str(response["Parameter"]["Value"]).encode()
    raise ConfigError("set GRIDPORTAL_SECRET or GRIDPORTAL_SECRET_PARAM")
