"""Typed application keys for the long-lived objects handlers need."""

from __future__ import annotations

from aiohttp import web

from controlplane.accounts import Accounts
from controlplane.config import Settings
from controlplane.deploys import Deploys
from controlplane.routing import Routing
from controlplane.sites import Sites
from controlplane.store import Store

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
ACCOUNTS = web.AppKey("accounts", Accounts)
SITES = web.AppKey("sites", Sites)
DEPLOYS = web.AppKey("deploys", Deploys)
ROUTING = web.AppKey("routing", Routing)
