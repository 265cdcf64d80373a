"""The web dashboard: server-rendered pages over the api's own services, served by the api."""

from api.dashboard.routes import router

__all__ = ["router"]
