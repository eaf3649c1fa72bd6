"""What every staff form shares: who is signed in, the posted form (only from one of our
pages in a signed-in browser), its text fields, the redirect after a post, and the form sent
back when the portal refuses it."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from blotter.access import Viewer
from blotter.auth import check_csrf, viewer_of
from blotter.errors import AuthenticationRequired, BlotterError
from blotter.web.rendering import portal_of, render_error

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    _Page = TypeVar("_Page", bound=DataclassInstance)


def staff_viewer(request: Request) -> Viewer:
    return viewer_of(request, portal_of(request).store)


async def read_form(request: Request) -> FormData:
    """The posted form, after checking it came from one of our pages in a signed-in browser.

    Forms act only for a session: remembered Basic credentials, which a browser would also
    send with a forged cross-site post, do not count here."""
    viewer = staff_viewer(request)
    if viewer.via != "session":
        raise AuthenticationRequired("Sign in on the sign-in page to use this form.")
    form = await request.form()
    token = form.get("csrf")
    check_csrf(request, token if isinstance(token, str) else None)
    return form


def form_text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name, default)
    return value.strip() if isinstance(value, str) else default


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def sent_back(request: Request, template: str, page: _Page, err: BlotterError) -> Response:
    """The form's page shown again with what the staff member typed, saying what was wrong
    (its ``error`` field), at the error's status: the one way a staff form is refused."""
    return render_error(request, template, replace(page, error=err.message), err)
