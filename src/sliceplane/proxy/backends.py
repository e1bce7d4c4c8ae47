"""The real kernel interfaces: ``nft -f -`` and ``iptables-restore --noflush``.

Each transaction is one process run reading the whole text on stdin, so the kernel applies
all of it or none of it. Failures raise :class:`BackendError` with the tool's first error
line; the proxier then does a full sync next time. Listing (existing chains and sets) is
what full syncs use to clean up what a previous run or a person left behind.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from collections.abc import Sequence


class BackendError(Exception):
    """The kernel (or the tool) refused a transaction."""


def _run(
    argv: Sequence[str], text: str = "", *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            list(argv), input=text, capture_output=True, text=True, timeout=600, check=False
        )
    except FileNotFoundError as exc:
        raise BackendError(f"{argv[0]} not found (install nftables/iptables)") from exc
    except subprocess.TimeoutExpired as exc:
        raise BackendError(f"{argv[0]} timed out") from exc
    if check and proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        first = next(
            (ln for ln in lines if "rror" in ln or "failed" in ln), lines[0] if lines else ""
        )
        raise BackendError(f"{argv[0]} exited {proc.returncode}: {first.strip()}")
    return proc


def require(tool: str) -> None:
    if shutil.which(tool) is None:
        raise BackendError(f"{tool} not found on PATH (install the nftables/iptables package)")


class NftCommand:
    """The ``kube-proxy`` table of one family through the ``nft`` binary."""

    def __init__(self, family: str = "ip", table: str = "kube-proxy", nft: str = "nft") -> None:
        self.family = family
        self.table = table
        self.nft = nft

    def run(self, text: str) -> None:
        _run([self.nft, "-f", "-"], text)

    def _list(self, what: str) -> list[str]:
        proc = _run([self.nft, "-j", "list", what, self.family], check=False)
        if proc.returncode != 0:
            return []
        try:
            doc = json.loads(proc.stdout or "{}")
        except json.JSONDecodeError:
            return []
        key = "chain" if what == "chains" else "set"
        names = []
        for item in doc.get("nftables", []):
            obj = item.get(key)
            if obj and obj.get("table") == self.table:
                names.append(str(obj["name"]))
        return sorted(names)

    def list_chains(self) -> list[str]:
        return self._list("chains")

    def list_sets(self) -> list[str]:
        return self._list("sets")


class IptablesCommand:
    """filter and nat of one family through ``iptables``/``ip6tables`` and their restore."""

    def __init__(self, family: int = 4) -> None:
        base = "ip6tables" if family == 6 else "iptables"
        self.iptables = base
        self.restore_cmd = f"{base}-restore"
        self.save_cmd = f"{base}-save"

    def restore(self, text: str, *, noflush: bool = True) -> None:
        argv = [self.restore_cmd, "-w", "5"]
        if noflush:
            argv.append("--noflush")
        _run(argv, text)

    def ensure_chain(self, table: str, chain: str) -> None:
        proc = _run([self.iptables, "-w", "5", "-t", table, "-N", chain], check=False)
        if proc.returncode not in (0, 1):
            raise BackendError(f"{self.iptables} -N {chain}: {proc.stderr.strip()}")

    def ensure_jumps(self, jumps: Sequence[tuple[str, str, str, str]]) -> None:
        """Each ``(table, chain, built-in chain, rule)``: ``chain`` exists and the built-in
        chain holds ``rule`` (inserted first when missing), as ``ensure_chain`` then
        ``ensure_rule_first`` would leave them.

        Done with one ``iptables-save`` per table and, for whatever is missing, one
        ``iptables-restore --noflush`` (``-I CHAIN 1`` lines in order, so they end up in
        the order the one-by-one inserts give), instead of an ``iptables -N`` and an
        ``iptables -C`` process per jump: those were ~25 processes, 90-120 ms on a fresh
        node, the longest thing in a 1,000-Service first sync besides the restore. A rule
        the saved text does not show (another iptables version may print it otherwise)
        is still checked with ``-C`` before it is inserted, so nothing is added twice."""
        saved: dict[str, list[str]] = {}
        for table in dict.fromkeys(t for t, *_ in jumps):
            proc = _run([self.save_cmd, "-t", table], check=False)
            if proc.returncode != 0:  # no such table yet, or no save tool: one by one
                for t, chain, src, rule in jumps:
                    self.ensure_chain(t, chain)
                    self.ensure_rule_first(t, src, rule)
                return
            saved[table] = proc.stdout.splitlines()
        chains = {
            t: {ln[1:].split(" ")[0] for ln in lines if ln[:1] == ":"} for t, lines in saved.items()
        }
        rules = {t: {ln for ln in lines if ln[:3] == "-A "} for t, lines in saved.items()}
        created: dict[str, list[str]] = {t: [] for t in saved}
        inserts: dict[str, list[str]] = {t: [] for t in saved}
        for table, chain, src, rule in jumps:
            if chain not in chains[table]:  # nothing can jump to a chain that does not exist
                if chain not in created[table]:
                    created[table].append(chain)
            elif f"-A {src} {rule}" in rules[table] or self._holds(table, src, rule):
                continue
            inserts[table].append(f"-I {src} 1 {rule}")
        text: list[str] = []
        for table in saved:
            if created[table] or inserts[table]:
                text.append(f"*{table}")
                text.extend(f":{c} - [0:0]" for c in created[table])
                text.extend(inserts[table])
                text.append("COMMIT")
        if text:
            self.restore("\n".join(text) + "\n")

    def _holds(self, table: str, chain: str, rule: str) -> bool:
        args = shlex.split(rule)
        probe = _run([self.iptables, "-w", "5", "-t", table, "-C", chain, *args], check=False)
        return probe.returncode == 0

    def ensure_rule_first(self, table: str, chain: str, rule: str) -> None:
        args = shlex.split(rule)
        probe = _run([self.iptables, "-w", "5", "-t", table, "-C", chain, *args], check=False)
        if probe.returncode != 0:
            _run([self.iptables, "-w", "5", "-t", table, "-I", chain, "1", *args])

    def delete_rule(self, table: str, chain: str, rule: str) -> None:
        args = shlex.split(rule)
        for _ in range(16):  # every copy, should someone have added it twice
            proc = _run([self.iptables, "-w", "5", "-t", table, "-D", chain, *args], check=False)
            if proc.returncode != 0:
                return

    def delete_chain(self, table: str, chain: str) -> None:
        _run([self.iptables, "-w", "5", "-t", table, "-F", chain], check=False)
        _run([self.iptables, "-w", "5", "-t", table, "-X", chain], check=False)

    def list_chains(self, table: str) -> list[str]:
        proc = _run([self.save_cmd, "-t", table], check=False)
        if proc.returncode != 0:
            return []
        return sorted(
            line[1:].split(" ")[0] for line in proc.stdout.splitlines() if line.startswith(":")
        )
