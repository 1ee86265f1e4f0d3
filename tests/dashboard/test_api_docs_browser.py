"""/docs (Swagger UI) and /redoc render in real headless Chromium with no network beyond the
server: every request to another host is refused, and none is attempted."""

from __future__ import annotations

import pytest

from tests.api.live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        ("/docs", ".swagger-ui .opblock-summary-path[data-path='/v3/identity/token']"),
        ("/redoc", "h1:has-text('caffebatch')"),
    ],
)
def test_the_api_docs_render_offline(
    live: LiveServer, browser, path: str, rendered: str  # type: ignore[no-untyped-def]
) -> None:
    context = browser.new_context()
    elsewhere: list[str] = []

    def only_this_server(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(live.url + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_server)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(live.url + path)
        page.locator(rendered).first.wait_for(timeout=30_000)
        assert "caffebatch" in page.title()
        # every operation of the document is listed (Swagger UI's blocks, ReDoc's menu)
        operations = page.locator(".opblock-summary, [role=menuitem]").count()
        assert operations >= 10, f"{path} lists only {operations} operations"
    finally:
        context.close()
    assert elsewhere == [], f"{path} asked other hosts for {elsewhere}"
    assert errors == []
