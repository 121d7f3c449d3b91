"""``provaudit audit``: the ``/v1/audit`` pipeline over files, folders and globs.

:mod:`service.audit.setup` builds the pipeline from the service's own settings (the
same verifier, trust anchors, registry and detector ``provaudit serve`` loads), so a file
gets the same JSON from the command as from the endpoint. :mod:`service.audit.batch` is
the per-image function and the local engine (a thread pool in this process),
:mod:`service.audit.ray_engine` the same function as a Ray Data map, and
:mod:`service.audit.cli` the command.
"""
