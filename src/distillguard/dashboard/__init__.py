"""The analyst dashboard (served by the gateway under /dashboard)."""

from __future__ import annotations

from distillguard.config import GatewayConfig
from distillguard.dashboard.app import DASHBOARD_ROUTES, Dashboard
from distillguard.dashboard.auth import Sessions
from distillguard.gateway.admin import Admin
from distillguard.report.tape import Tape

__all__ = ["DASHBOARD_ROUTES", "Dashboard", "open_dashboard"]


def open_dashboard(config: GatewayConfig, admin: Admin) -> Dashboard:
    """Start recording judged requests for the timelines and accept logins."""
    detectors = [d.name for d in admin.engine.detectors]
    tape = Tape(detectors, capacity=config.dashboard.tape_events)
    admin.policy.tape = tape
    token = config.admin.token or ""
    sessions = Sessions(token, config.dashboard.session_hours * 3600)
    return Dashboard(admin, sessions, tape, config.event_log.path, config.dashboard.public_origin)
