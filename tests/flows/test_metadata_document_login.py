"""A client identified by a metadata document, whose document goes bad during the login."""

from __future__ import annotations

import json
from pathlib import Path

from mcp_gatekeeper.config import Config
from tests.flows.driver import REDIRECT_URI, Driver
from tests.support import config_dict, running
from tests.tls import HttpsServer, Reply, make_pki

A = "a.example.test"
PATH = "/clients/notes.json"


async def test_a_document_that_goes_bad_before_the_consent_page_gets_a_page(
    tmp_path: Path,
) -> None:
    """The document is fetched again for the consent page (it may not be cached); when it has
    gone meanwhile, the person sees why on a page, never a server error."""
    pki = make_pki(tmp_path)
    with HttpsServer(pki) as documents:
        url = f"https://127.0.0.1:{documents.port}{PATH}"
        document = {"client_id": url, "client_name": "Notes", "redirect_uris": [REDIRECT_URI]}
        documents.routes[PATH] = Reply(
            body=json.dumps(document).encode(),
            headers={"Content-Type": "application/json", "Cache-Control": "no-store"},
        )
        settings = config_dict() | {
            "clients": {
                "metadataDocuments": {"allowPrivateAddresses": True, "caFile": str(pki.ca_file)}
            }
        }
        async with running(Config.model_validate(settings), base_url=f"https://{A}") as (
            _app,
            client,
        ):
            driver = Driver(client)
            response, _login = await driver.authorize(url)
            page = await driver.sign_in(response)
            assert page.status_code == 200 and "Notes" in page.text
            consent_url = page.url
            documents.routes[PATH] = Reply(status=404)
            again = await client.get(str(consent_url), headers={"host": A})
    assert again.status_code == 400, again.text
    assert "metadata document cannot be used" in again.text
