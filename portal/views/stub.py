"""Placeholder pages until each section is built (removed as the sections land)."""

from django.shortcuts import render

from portal.access import portal_view


@portal_view()
def page(request, title):
    return render(request, "portal/stub.html", {"title": title})
