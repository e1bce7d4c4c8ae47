"""kubernetes-asyncio's kubeconfig and in-cluster loaders, imported without its generated client.

Why: ``import kubernetes_asyncio.config`` first runs ``kubernetes_asyncio/__init__.py``,
which imports the whole generated API client (every API group and model class): about 1,250
modules, 0.6 s of start-up and 35 MiB resident in every process that loads a kubeconfig —
the proxy, the DNS server, the controllers, each CLI command. The loaders themselves need
only ``client.configuration`` (and ``ApiClient`` in two helpers we never call). So the two
packages are registered as modules whose ``__init__`` has not run yet, with just
``Configuration`` (the real class) and ``ApiClient`` (a function that completes the import
when called) set on the client package; the first access to any other name of either
package runs its real ``__init__`` into the same module object, so code that does use the
generated client still gets all of it.

When kubernetes-asyncio is already imported (a test that uses it, say), nothing is changed.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any

_TOP = "kubernetes_asyncio"
_CLIENT = "kubernetes_asyncio.client"


def _deferred_package(name: str) -> ModuleType:
    """Register ``name`` as a package whose ``__init__`` runs on first unknown attribute."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(name)
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def complete(attr: str) -> Any:
        # Drop the hook before running __init__: its own ``from pkg import sub`` must import
        # the submodule, not call back into here.
        module.__dict__.pop("__getattr__", None)
        loader.exec_module(module)
        return getattr(module, attr)

    module.__dict__["__getattr__"] = complete
    sys.modules[name] = module
    return module


def _install() -> None:
    if _TOP in sys.modules:
        return
    top = _deferred_package(_TOP)
    try:
        client = _deferred_package(_CLIENT)
        top.__dict__["client"] = client
        configuration = importlib.import_module(f"{_CLIENT}.configuration")
        client.__dict__["Configuration"] = configuration.Configuration

        def api_client(*args: Any, **kwargs: Any) -> Any:
            real = client.__dict__.get("__getattr__")
            cls = real("ApiClient") if real else client.__dict__["ApiClient"]
            return cls(*args, **kwargs)

        client.__dict__["ApiClient"] = api_client
    except BaseException:
        for name in (_CLIENT, _TOP):
            sys.modules.pop(name, None)
        raise


def config_module() -> ModuleType:
    """``kubernetes_asyncio.config``, loaded the light way where possible."""
    _install()
    return importlib.import_module(f"{_TOP}.config")


def configuration_class() -> Any:
    """``kubernetes_asyncio.client.Configuration`` (the real class)."""
    _install()
    return importlib.import_module(f"{_CLIENT}.configuration").Configuration
