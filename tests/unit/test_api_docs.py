"""The API's docs work offline: /docs and /redoc name no other host, and every file they load is served by the API."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from events.settings import Settings
from registervard.api.http_app import create_app


class _References(HTMLParser):
    """Every URL a page makes the browser load: src and href attributes, and the `url:` Swagger UI and ReDoc fetch."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]

    def handle_data(self, data: str) -> None:
        self.urls += re.findall(r"""\burl:\s*['"]([^'"]+)['"]""", data)  # Swagger UI's spec URL
        self.urls += re.findall(r"""Redoc\.init\(\s*['"]([^'"]+)['"]""", data)


def references(page: str) -> list[str]:
    """The URLs a page loads, and any address of another host written anywhere in it (a script may build one)."""
    parser = _References()
    parser.feed(page)
    parser.close()
    return parser.urls


@pytest.fixture
def app(tmp_path):
    return create_app(Settings(database_url=f"sqlite:///{tmp_path / 'register.db'}", kafka="127.0.0.1:1"))


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_name_no_other_host_and_every_file_they_load_is_served(app, page):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registervard.test") as client:
        answer = await client.get(page)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
        urls = references(answer.text)
        assert any(url.endswith(".js") for url in urls), urls  # the page does load its scripts: from here
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", answer.text, re.IGNORECASE), "the page names another host"
        for url in urls:
            assert not urlsplit(url).netloc, f"{page} loads {url} from another host"
            loaded = await client.get(urljoin(str(answer.url), url))
            assert loaded.status_code == 200 and loaded.content, f"{page} loads {url}, which the API does not serve ({loaded.status_code})"


async def test_swagger_ui_is_a_version_that_reads_the_openapi_31_the_api_writes(app):
    """Swagger UI 4 shows "Unable to render this definition" for OpenAPI 3.1; 5 reads it."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://registervard.test") as client:
        schema = (await client.get("/openapi.json")).json()
        page = (await client.get("/docs")).text
        script = next(url for url in references(page) if url.endswith("swagger-ui-bundle.js"))
        bundle = (await client.get(script)).text
    assert schema["openapi"].startswith("3.1")
    version = re.search(r'PACKAGE_VERSION:"(\d+)\.\d+\.\d+"', bundle)
    assert version is not None and int(version[1]) >= 5, "the bundled Swagger UI is older than 5"
