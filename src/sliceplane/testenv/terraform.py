"""The pinned OpenTofu and kubernetes provider, and running ``tofu`` offline against a cluster.

``make terraform-bin`` (``tools/terraform/build.sh``) builds OpenTofu and the Terraform
kubernetes provider from the versions in ``tools/terraform/*/VERSION`` into
``${SLICEPLANE_TERRAFORM_CACHE:-~/.cache/sliceplane/terraform}/{tofu,provider-kubernetes}/VERSION/``.
:class:`Tofu` runs ``tofu`` in one working directory with a CLI configuration of its own:
the only provider source is a filesystem mirror holding the built provider, so
``tofu init`` never asks a registry (none is reachable from these machines) and never
reads the user's ``~/.terraformrc`` or plugin caches.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_TOOLS = Path(__file__).resolve().parents[3] / "tools" / "terraform"
ENV_CACHE = "SLICEPLANE_TERRAFORM_CACHE"
PROVIDER_ADDRESS = "registry.opentofu.org/hashicorp/kubernetes"


class TerraformNotFound(RuntimeError):
    """A pinned binary is not in the cache: ``make terraform-bin`` builds it."""


def pinned_version(part: str) -> str:
    """The pinned release of ``part`` (``tofu`` or ``provider-kubernetes``), e.g. ``1.12.6``."""
    path = REPO_TOOLS / part / "VERSION"
    try:
        return path.read_text().strip().lstrip("v")
    except OSError:
        raise TerraformNotFound(f"no {path}") from None


def _cache_root() -> Path:
    root = os.environ.get(ENV_CACHE)
    return Path(root) if root else Path.home() / ".cache" / "sliceplane" / "terraform"


def _built(path: Path) -> Path:
    if not os.access(path, os.X_OK):
        raise TerraformNotFound(f"{path} not found; build it with `make terraform-bin`")
    return path


def find_tofu() -> Path:
    """The built ``tofu``, or :class:`TerraformNotFound` saying how to build it."""
    return _built(_cache_root() / "tofu" / pinned_version("tofu") / "tofu")


def find_provider() -> Path:
    """The built provider executable, named as a provider package wants it."""
    version = pinned_version("provider-kubernetes")
    return _built(
        _cache_root()
        / "provider-kubernetes"
        / version
        / f"terraform-provider-kubernetes_v{version}"
    )


def _target() -> str:
    """The provider package's platform directory, ``linux_amd64`` and the like."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return f"{platform.system().lower()}_{arch}"


def write_mirror(root: Path, provider: Path, version: str) -> Path:
    """An unpacked filesystem mirror at ``root`` holding ``provider`` (a symlink, not a copy
    of its ~100 MiB), in the layout ``HOST/NAMESPACE/TYPE/VERSION/TARGET/`` tofu reads."""
    package = root / PROVIDER_ADDRESS / version / _target()
    package.mkdir(parents=True, exist_ok=True)
    link = package / provider.name
    if not link.exists():
        link.symlink_to(provider)
    return root


def cli_config(mirror: Path) -> str:
    """A CLI configuration whose only provider installation method is ``mirror``: with no
    ``direct`` block, a provider missing from it fails ``init`` instead of going online."""
    return (
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror}"\n'
        f'    include = ["{PROVIDER_ADDRESS}"]\n'
        "  }\n"
        "}\n"
    )


@dataclass
class Tofu:
    """``tofu`` in ``workdir`` (its configuration and local state), offline."""

    binary: Path
    workdir: Path
    home: Path

    @classmethod
    def offline(cls, workdir: Path, home: Path) -> Tofu:
        """The pinned binaries, a mirror and CLI configuration under ``home``."""
        binary, provider = find_tofu(), find_provider()
        mirror = write_mirror(home / "mirror", provider, pinned_version("provider-kubernetes"))
        (home / "tofurc").write_text(cli_config(mirror))
        workdir.mkdir(parents=True, exist_ok=True)
        return cls(binary, workdir, home)

    @property
    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TF_", "KUBE_", "KUBERNETES_")) and k != "KUBECONFIG"
        }
        env.update(
            TF_CLI_CONFIG_FILE=str(self.home / "tofurc"),
            TF_IN_AUTOMATION="1",
            TF_INPUT="0",
            CHECKPOINT_DISABLE="1",
            HOME=str(self.home),
        )
        return env

    def run(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        """``tofu ARGS`` in the working directory; the caller checks ``returncode``."""
        return subprocess.run(
            [str(self.binary), *args],
            cwd=self.workdir,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )

    def __call__(self, *args: str, timeout: float = 300.0) -> str:
        """``tofu ARGS`` that must succeed; its stdout."""
        res = self.run(*args, timeout=timeout)
        if res.returncode != 0:
            raise AssertionError(
                f"tofu {' '.join(args)} exited {res.returncode}:\n{res.stdout}{res.stderr}"
            )
        return res.stdout
