"""The staff web console (工作台): the village office's browser view of emergencies, grievances,
households, points, notices, figures and the audit log.

One more entry point over the domain layer (docs/architecture.md): every page resolves the
logged-in user to an :class:`~bot.identity.Actor` (channel ``console``) and calls the same
domain functions as the CLI and the custom actions, which check the role and write the audit
log. Nothing here decides who may see or change what.

Starlette + Jinja2 templates + htmx (vendored in ``static/``), served by uvicorn:
``python -m bot.console`` (binds ``settings.security.bind``, port ``settings.console.port``).
:func:`bot.console.app.create_app` builds the app; :mod:`bot.console.web` is what every page
shares (session, CSRF, one transaction per request, Chinese error pages).
"""
