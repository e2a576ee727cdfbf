"""Client-controlled JSON is read within a depth and a size, and a document past either is an
ordinary "not JSON" refusal at each place that reads one (never a ``RecursionError``)."""

from __future__ import annotations

import json

import httpx
import pytest

from mcp_gatekeeper import bounded_json
from mcp_gatekeeper.oauth.clients.metadata_document_rules import (
    UnusableMetadataDocument,
    parse_document,
)
from mcp_gatekeeper.providers.base import ProviderError
from mcp_gatekeeper.providers.upstream_http import json_body, json_object

URL = "https://client.example/oauth/client.json"


def nested(depth: int, opening: str = "[", closing: str = "]") -> str:
    return opening * depth + "1" + closing * depth


def test_within_the_depth_the_value_is_read() -> None:
    """64 levels (arrays, objects, mixed) are read as json.loads reads them."""
    assert bounded_json.loads(nested(64)) == json.loads(nested(64))
    deep_object = bounded_json.loads(nested(64, '{"a":', "}").encode())
    assert isinstance(deep_object, dict)
    # Many brackets side by side are not depth.
    assert bounded_json.loads("[" + ",".join(["[]"] * 500) + "]") == [[]] * 500


@pytest.mark.parametrize("depth", [65, 999, 100_000])
@pytest.mark.parametrize("brackets", [("[", "]"), ('{"a":', "}"), ('[{"a":', "}]")])
def test_past_the_depth_is_a_value_error(depth: int, brackets: tuple[str, str]) -> None:
    """Just past the limit, near Python's recursion limit, and far past it: the same error."""
    with pytest.raises(bounded_json.UnboundedJson, match="deeper than 64"):
        bounded_json.loads(nested(depth, *brackets))


def test_size_and_encoding() -> None:
    with pytest.raises(bounded_json.UnboundedJson, match="larger than 10 bytes"):
        bounded_json.loads(b'"' + b"a" * 20 + b'"', max_bytes=10)
    with pytest.raises(ValueError):  # UTF-16 is not guessed: UTF-8 only (RFC 8259 §8.1)
        bounded_json.loads('{"a": 1}'.encode("utf-16"))


def test_a_deep_client_metadata_document_is_unusable() -> None:
    """A Client ID Metadata Document nested deep is refused with a reason, not a 500."""
    with pytest.raises(UnusableMetadataDocument, match="not JSON we read: the JSON nests deeper"):
        parse_document(URL, nested(5000, '{"a":', "}").encode())


@pytest.mark.parametrize("depth", [65, 5000])
def test_a_deep_identity_provider_answer_is_a_provider_error(depth: int) -> None:
    """What the IdP answers goes through the provider error path (a readable page / 503)."""
    request = httpx.Request("GET", "https://idp.example/userinfo")
    response = httpx.Response(200, content=nested(depth, '{"a":', "}").encode(), request=request)
    with pytest.raises(ProviderError, match="non-JSON"):
        json_body(response)
    with pytest.raises(ProviderError):
        json_object(response)
