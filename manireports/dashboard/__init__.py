"""Dashboards: built-in ones per role and custom ones from a file.

`build_dashboard` resolves who is looking, gathers the widgets' data from reports run as them,
and keeps the result in the cache for `[cache] ttl_dashboard_seconds` (1 h), so opening the same
dashboard again costs one read. The renderers (`render_html`, `render_pdf`, and the terminal one
in the command line) draw a `Dashboard` without computing anything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

from manireports.app import App
from manireports.dashboard.builtin import ROLES, Role, staff_dashboard, student_dashboard
from manireports.dashboard.custom import custom_widgets, require_dashboard
from manireports.dashboard.model import Dashboard, Widget
from manireports.dashboard.periods import dashboard_periods
from manireports.dashboard.sources import Sources
from manireports.errors import InputError, PermissionDeniedError
from manireports.reports.caching import dashboard_cache
from manireports.reports.params import parse_moment
from manireports.reports.run import OPERATOR
from manireports.scope import Scope, resolve_scope
from manireports.state import record_audit

__all__ = ["ROLES", "Dashboard", "DashboardRequest", "build_dashboard"]

ROLE_OF_ACTOR: dict[str, Role] = {
    "operator": "admin",
    "siteadmin": "admin",
    "sitemanager": "admin",
    "manager": "manager",
    "teacher": "teacher",
    "user": "student",
}
TITLES: dict[Role, str] = {
    "admin": "Site dashboard",
    "manager": "Company dashboard",
    "teacher": "Teaching dashboard",
    "student": "My learning",
}


@dataclass(frozen=True)
class DashboardRequest:
    role: str | None = None
    as_user: str | None = None
    company: int | None = None
    # A custom dashboard's id; None for the role's built-in dashboard.
    dashboard_id: int | None = None
    as_of: str | None = None
    use_cache: bool = True
    # Recompute the dashboard's own entry but read fresh report entries (`jobs build-cache`).
    refresh: bool = False


def dashboard_role(scope: Scope, asked: str | None) -> Role:
    """The layout: the acting user's role when --as-user is given, else --role (admin)."""
    if asked is not None and asked not in ROLES:
        raise InputError(f"--role must be one of {', '.join(ROLES)}, not {asked!r}.")
    if scope.actor.userid is None:
        if asked == "student":
            raise InputError(
                "A student dashboard shows one learner's own data; name them with --as-user."
            )
        return cast(Role, asked or "admin")
    role = ROLE_OF_ACTOR[scope.actor.role]
    if asked is not None and asked != role:
        raise InputError(
            f"{scope.actor.username} sees the {role} dashboard; leave out --role or give "
            f"--role {role}."
        )
    return role


def build_dashboard(app: App, request: DashboardRequest) -> tuple[Dashboard, bool]:
    """The dashboard and whether it came from the cache."""
    try:
        scope = resolve_scope(app.moodle, app.site, request.as_user, request.company)
    except PermissionDeniedError as refusal:
        _audit(app, "dashboard_refused", request, {"reason": str(refusal)})
        raise
    role = dashboard_role(scope, request.role)
    definition = (
        None if request.dashboard_id is None else require_dashboard(app.state, request.dashboard_id)
    )
    reporttype = f"dashboard_{role}" if definition is None else "dashboard_custom"
    now = app.now()
    cache = dashboard_cache(
        app,
        reporttype=reporttype,
        role=role,
        scope=scope,
        company=request.company,
        layout=None if definition is None else (definition.id, definition.timemodified),
        as_of=request.as_of,
        now=now,
        look=request.use_cache and not request.refresh,
    )
    if cache is not None and cache.found is not None:
        _audit(app, "dashboard_view", request, {"role": role, "cache": "hit"})
        return Dashboard.from_json(cache.found), True
    moment = (
        now if request.as_of is None else parse_moment(request.as_of, app.timezone, what="--as-of")
    )
    sources = Sources(
        app, request.as_user, request.company, request.as_of, request.use_cache, moment=moment
    )
    widgets: list[Widget]
    if definition is not None:
        title = definition.title
        widgets = custom_widgets(sources, definition)
    else:
        title = TITLES[role]
        periods = dashboard_periods(moment, app.timezone)
        if role == "student":
            widgets = student_dashboard(sources, periods)
        else:
            companies = bool(app.site.iomad) and (
                scope.grants is None or bool(scope.actor.companies)
            )
            widgets = staff_dashboard(sources, periods, companies=companies and role != "teacher")
    dashboard = Dashboard(
        title=title,
        role=role,
        viewer=scope.actor.username,
        company=request.company,
        generated=datetime.fromtimestamp(moment, app.timezone).strftime("%Y-%m-%d %H:%M:%S"),
        timezone=app.timezone.key,
        widgets=widgets,
    )
    outcome = None
    if cache is not None:
        cache.store(dashboard.to_json())
        outcome = "miss"
    _audit(app, "dashboard_view", request, {"role": role, "cache": outcome})
    return dashboard, False


def _audit(app: App, action: str, request: DashboardRequest, extra: dict[str, Any]) -> None:
    record_audit(
        app.state,
        userid=OPERATOR,
        action=action,
        objecttype="dashboard",
        objectid=request.dashboard_id,
        details={**asdict(request), **extra},
    )
