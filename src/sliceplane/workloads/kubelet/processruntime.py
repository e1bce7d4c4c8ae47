"""The process runtime: containers of pods bound to local nodes run as real processes.

Why: ``sliceplane up --runtime process`` should carry real traffic, so a data plane (the
proxy, later) has something to route to. Pods are still scheduled onto the simulated
nodes (:class:`~sliceplane.workloads.kubelet.nodes.SimulatedNodes` keeps the Node objects, their
Leases and node stop/start); this runtime plays the kubelet's container half for them:
it starts each container as a local process group, runs its probes for real, restarts
it per ``restartPolicy`` with crash-loop back-off, writes the pod status, and on graceful
deletion stops the processes and confirms the deletion (DELETE with grace 0).

What a process sees (argv, env) is specified in :mod:`sliceplane.workloads.kubelet.processspec`;
probe thresholds and back-off in :mod:`sliceplane.workloads.kubelet.probes`.

Settings are :class:`~sliceplane.workloads.kubelet.processoptions.ProcessRuntimeOptions`
(including how pods get addresses a process may bind).

Processes never outlive the runtime: each container runs in its own session (process
group); the group is SIGKILLed when the main process exits (as a container's PID
namespace dies with its init), when the pod goes away, and on shutdown. A pid file per
running container (with the process start time, so a reused pid is never hit) lets the
next start clean up after a runtime that was SIGKILLed itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

from sliceplane.api import errors
from sliceplane.api.meta import Obj, format_time, meta_of, uid_of
from sliceplane.client.client import Client
from sliceplane.machinery.clock import Clock
from sliceplane.machinery.events import EventRecorder
from sliceplane.machinery.factory import InformerFactory
from sliceplane.machinery.informer import object_key
from sliceplane.machinery.tasks import cancel_and_wait
from sliceplane.machinery.workqueue import WorkQueue, run_workers
from sliceplane.workloads.kubelet.containerlogs import pump, pump_terminal, run_log_path
from sliceplane.workloads.kubelet.kubeletstatus import same_ignoring_nulls
from sliceplane.workloads.kubelet.nodes import SimNode, SimulatedNodes
from sliceplane.workloads.kubelet.podcidr import IPV4, AddressesExhausted, NodeIPAM, node_pod_cidrs
from sliceplane.workloads.kubelet.prober import probe_once
from sliceplane.workloads.kubelet.probes import (
    ProbeSpec,
    ProbeType,
    probe_worker,
    restart_delay,
    should_restart,
)
from sliceplane.workloads.kubelet.processes import (
    kill_orphans,
    killpg,
    pod_cidr_routed,
    process_start_time,
)
from sliceplane.workloads.kubelet.processoptions import ProcessRuntimeOptions
from sliceplane.workloads.kubelet.processspec import (
    CRASH_LOOP,
    ContainerView,
    NotRunnable,
    Terminated,
    container_env,
    host_env,
    loopback_alias,
    pod_dir_name,
    process_pod_status,
    resolve_command,
    unalias,
)
from sliceplane.workloads.kubelet.stdinrelay import (
    StdinRelay,
    fifo_path,
    with_controlling_terminal,
)
from sliceplane.workloads.podstate import pod_ips

log = logging.getLogger(__name__)


EVENT_COMPONENT: Final = "kubelet"
DEFAULT_GRACE: Final = 30.0


@dataclass(slots=True)
class ContainerProc:
    """One container of a running pod: its spec, current view and process."""

    spec: Obj
    view: ContainerView
    proc: asyncio.subprocess.Process | None = None
    task: asyncio.Task[None] | None = None


@dataclass(slots=True)
class PodProcs:
    """The processes of one pod (one pod UID)."""

    key: str
    uid: str
    node: str
    ips: list[str]
    """Status addresses, which the processes bind."""
    ipam_address: str
    directory: Path
    pod: Obj
    """The pod as last seen (for env, probes and events)."""
    containers: dict[str, ContainerProc] = field(default_factory=dict)
    stopping: bool = False
    terminator: asyncio.Task[None] | None = None


class ProcessRuntime:
    """Runs the containers of pods bound to ``nodes`` as local processes; see the module
    docstring. ``await run()`` until cancelled; ``await shutdown()`` kills everything."""

    def __init__(
        self,
        client: Client,
        factory: InformerFactory,
        clock: Clock,
        nodes: SimulatedNodes,
        pods_dir: Path,
        options: ProcessRuntimeOptions | None = None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.sim = nodes
        self.pods_dir = pods_dir
        self.options = opts = options or ProcessRuntimeOptions()
        if opts.pod_addresses not in ("auto", "loopback", "pod-cidr"):
            raise ValueError(f"pod_addresses must be auto, loopback or pod-cidr, not {opts}")
        sim_opts = nodes.options
        if tuple(sim_opts.ip_families) != (IPV4,):
            raise ValueError("the process runtime supports single-stack IPv4 nodes only")
        self.cluster_cidr = sim_opts.cidrs.ipv4
        self.ipam: dict[str, NodeIPAM] = {
            name: NodeIPAM(node_pod_cidrs(n.index, sim_opts.ip_families, sim_opts.cidrs))
            for name, n in nodes.nodes.items()
        }
        self.mode: Literal["loopback", "pod-cidr"] = self._choose_mode()
        self.recorder = EventRecorder(client, clock, EVENT_COMPONENT)
        self.pods = factory.informer("pods")
        self.queue: WorkQueue[str] = WorkQueue(clock, name="process-runtime")
        self.running: dict[str, PodProcs] = {}
        self.status_writes = 0
        self.deletions = 0
        self._host_env = host_env(os.environ)
        self._warned: set[str] = set()
        self.pods.add_handler(self._on_pod, lambda _old, new: self._on_pod(new), self._on_pod)

    def _choose_mode(self) -> Literal["loopback", "pod-cidr"]:
        wanted = self.options.pod_addresses
        if wanted != "auto":
            return wanted
        first = next(iter(self.ipam.values()), None)
        probe = first.allocators[0] if first is not None else None
        if probe is not None and pod_cidr_routed(str(probe.network.network_address + 2)):
            log.info(
                "process runtime: pod CIDR %s is routed locally; pods get pod-CIDR addresses",
                self.cluster_cidr,
            )
            return "pod-cidr"
        log.warning(
            "process runtime: pods get loopback addresses (127.x.y.z). The API server rejects "
            "loopback addresses in EndpointSlices (as upstream does), so Services selecting "
            "them get no endpoints. For valid pod addresses route the pod CIDR locally once "
            "(as root: ip route add local %s dev lo) and restart.",
            self.cluster_cidr,
        )
        return "loopback"

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        self.pods_dir.mkdir(parents=True, exist_ok=True)
        killed = await asyncio.get_running_loop().run_in_executor(None, kill_orphans, self.pods_dir)
        if killed:
            log.warning("process runtime: killed %d processes left by an earlier run", killed)
        await self.pods.wait_for_sync()
        try:
            await run_workers(self.queue, self.options.workers, self.sync_pod, logger=log)
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        """Stop every pod's processes (SIGTERM, ``orphan_grace``, SIGKILL); statuses are
        left as they are, so the next start runs the same pods again."""
        pods = list(self.running.values())
        self.running.clear()
        await asyncio.gather(
            *(self._stop(pp, self.options.orphan_grace) for pp in pods), return_exceptions=True
        )
        with contextlib.suppress(Exception):
            await self.recorder.flush()

    # ------------------------------------------------------------------ handlers

    def _on_pod(self, pod: Obj) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        key = object_key(pod)
        if (node and node in self.sim.nodes) or key in self.running:
            self.queue.add(key)

    # ------------------------------------------------------------------ sync

    async def sync_pod(self, key: str) -> None:
        """Start, observe or stop one pod's processes and write its status."""
        pod = self.pods.store.get(key)
        pp = self.running.get(key)
        uid = uid_of(pod or {})
        if pp is not None and (pod is None or pp.uid != uid):
            # Gone from the API (force-deleted) or replaced by a new pod of that name.
            if pp.terminator is None:
                self.running.pop(key, None)
                await self._stop(pp, self.options.orphan_grace)
                self._release(pp)
            pp = None
        if pod is None:
            return
        node_name = str((pod.get("spec") or {}).get("nodeName") or "")
        node = self.sim.nodes.get(node_name)
        if node is None:
            return
        if not node.running:
            self.queue.add_after(key, self.options.frozen_recheck)
            return
        meta = meta_of(pod)
        status = pod.get("status") or {}
        if meta.get("deletionTimestamp"):
            if pp is None:
                await self._delete(pod)
            elif pp.terminator is None:
                pp.terminator = asyncio.create_task(self._terminate(pp, pod))
            return
        if pp is None:
            if status.get("phase") in ("Succeeded", "Failed"):
                return
            pp = self._start_pod(key, pod, node)
            if pp is None:
                return
        pp.pod = pod
        views = [c.view for c in pp.containers.values()]
        wanted = process_pod_status(pod, node.view, pp.ips, self.clock.wall(), views)
        if same_ignoring_nulls(wanted, status):
            return
        try:
            await self.client.patch(
                "pods",
                str(meta.get("name")),
                {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "status": wanted},
                str(meta.get("namespace")),
                subresource="status",
            )
        except errors.NotFound:
            return
        self.status_writes += 1

    # ------------------------------------------------------------------ starting

    def _address(self, key: str, pod: Obj, node: SimNode) -> tuple[list[str], str] | None:
        """(status addresses, IPAM address) for a pod: the ones it had (a restart of
        ``sliceplane up``) when they fit the current mode, otherwise fresh ones."""
        ipam = self.ipam[node.name]
        for ip in pod_ips(pod):
            base = unalias(ip, self.cluster_cidr) if self.mode == "loopback" else ip
            if base is not None:
                ipam.reserve(key, [base])
        try:
            allocated = ipam.allocate(key)[0]
        except AddressesExhausted as exc:
            log.warning("pod %s: %s", key, exc)
            return None
        shown = loopback_alias(allocated) if self.mode == "loopback" else allocated
        return [shown], allocated

    def _start_pod(self, key: str, pod: Obj, node: SimNode) -> PodProcs | None:
        addresses = self._address(key, pod, node)
        if addresses is None:
            return None
        ips, allocated = addresses
        meta = meta_of(pod)
        uid = str(meta.get("uid") or "")
        directory = self.pods_dir / pod_dir_name(
            str(meta.get("namespace")), str(meta.get("name")), uid
        )
        directory.mkdir(parents=True, exist_ok=True)
        pp = PodProcs(key, uid, node.name, ips, allocated, directory, pod)
        old_counts = {
            s.get("name"): s.get("restartCount")
            for s in (pod.get("status") or {}).get("containerStatuses") or []
            if isinstance(s, dict)
        }
        for c in (pod.get("spec") or {}).get("containers") or []:
            name = str(c.get("name") or "")
            count = old_counts.get(name)
            view = ContainerView(
                name=name,
                image=str(c.get("image") or ""),
                restart_count=count if isinstance(count, int) else 0,
            )
            pp.containers[name] = cp = ContainerProc(dict(c), view)
            cp.task = asyncio.create_task(self._supervise(pp, cp), name=f"container {key}/{name}")
        self.running[key] = pp
        return pp

    def _changed(self, pp: PodProcs, cp: ContainerProc, **changes: Any) -> None:
        cp.view = replace(cp.view, **changes)
        if not pp.stopping:
            self.queue.add(pp.key)

    def _event(self, pp: PodProcs, type_: str, reason: str, message: str) -> None:
        if self.options.record_events and not pp.stopping:
            self.recorder.event(pp.pod, type_, reason, message)

    # ------------------------------------------------------------------ one container

    async def _supervise(self, pp: PodProcs, cp: ContainerProc) -> None:
        """Run one container until the pod stops or the restart policy says it is done."""
        name = cp.view.name
        policy = str((pp.pod.get("spec") or {}).get("restartPolicy") or "Always")
        crashes = 0
        try:
            env = container_env(pp.pod, cp.spec, pp.ips, self._host_env)
            argv = resolve_command(cp.spec, env)
        except NotRunnable as exc:
            self._changed(pp, cp, state="waiting", reason=exc.reason, message=exc.message)
            self._event(pp, "Warning", "Failed", f"Error: {exc.message}")
            return
        first = True
        try:
            while not pp.stopping:
                if not first:
                    self._changed(pp, cp, restart_count=cp.view.restart_count + 1)
                first = False
                began = self.clock.now()
                term = await self._run_once(pp, cp, argv, env)
                if pp.stopping:
                    return
                if not should_restart(policy, term.exit_code):
                    self._changed(
                        pp, cp, state="terminated", terminated=term, ready=False, started=False
                    )
                    return
                if self.clock.now() - began >= self.options.backoff_reset:
                    crashes = 0
                crashes += 1
                delay = restart_delay(
                    crashes, self.options.backoff_initial, self.options.backoff_max
                )
                if delay > 0:
                    meta = meta_of(pp.pod)
                    message = (
                        f"back-off {delay:g}s restarting failed container={name} "
                        f"pod={meta.get('name')}_{meta.get('namespace')}({pp.uid})"
                    )
                    self._changed(
                        pp,
                        cp,
                        state="waiting",
                        reason=CRASH_LOOP,
                        message=message,
                        last_terminated=term,
                        ready=False,
                        started=False,
                    )
                    self._event(pp, "Warning", "BackOff", "Back-off restarting failed container")
                    await self.clock.sleep(delay)
                else:
                    self._changed(pp, cp, last_terminated=term)
        finally:
            proc = cp.proc
            if proc is not None:
                killpg(proc.pid, signal.SIGKILL)

    async def _run_once(
        self, pp: PodProcs, cp: ContainerProc, argv: list[str], env: dict[str, str]
    ) -> Terminated:
        """Start the process, probe it until it exits (or liveness kills it)."""
        name = cp.view.name
        started_at = format_time(self.clock.wall())
        workdir = cp.spec.get("workingDir")
        cwd = Path(workdir) if isinstance(workdir, str) and Path(workdir).is_dir() else None
        log_path = run_log_path(pp.directory, name, cp.view.restart_count)
        try:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            out = open(log_path, "ab")  # noqa: SIM115 - closed once the pumps are done
        except OSError as exc:
            message = f"failed to create the log of container {name!r}: {exc}"
            self._event(pp, "Warning", "Failed", f"Error: {message}")
            now = format_time(self.clock.wall())
            return Terminated(128, "StartError", started_at, now, message=message)
        wants_stdin = cp.spec.get("stdin") is True
        terminal = slave = None
        if cp.spec.get("tty") is True:
            # A terminal of its own, as a runtime gives a tty: true container; the
            # runtime keeps the master (output to the log, attach input and resizes).
            terminal, slave = os.openpty()
        pipe, devnull = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
        if slave is not None:
            argv = with_controlling_terminal(argv, env)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                env=env,
                cwd=cwd or pp.directory,
                stdin=slave if slave is not None else pipe if wants_stdin else devnull,
                stdout=slave if slave is not None else pipe,
                stderr=slave if slave is not None else pipe,
                start_new_session=True,
            )
        except OSError as exc:
            out.close()
            if terminal is not None:
                os.close(terminal)
            message = f"failed to start container {name!r}: {exc}"
            self._event(pp, "Warning", "Failed", f"Error: {message}")
            now = format_time(self.clock.wall())
            return Terminated(128, "StartError", started_at, now, message=message)
        finally:
            if slave is not None:
                os.close(slave)
        if terminal is not None:
            pumps = [asyncio.create_task(pump_terminal(terminal, out))]
        else:
            assert proc.stdout is not None and proc.stderr is not None
            pumps = [
                asyncio.create_task(pump(proc.stdout, "stdout", out)),
                asyncio.create_task(pump(proc.stderr, "stderr", out)),
            ]
        relay: StdinRelay | None = None
        if wants_stdin:
            relay = StdinRelay(
                fifo_path(log_path),
                proc.stdin,
                once=cp.spec.get("stdinOnce") is True,
                terminal=terminal,
            )
            try:
                relay.start()
            except OSError as exc:
                log.warning("no stdin for container %s: %s", name, exc)
                relay = None
        try:
            return await self._watch_process(pp, cp, proc, env, started_at)
        finally:
            if relay is not None:
                relay.stop()
            # The group is dead by now: the pipes reach EOF once the kernel has handed
            # over what was written. Never wait on a pump forever.
            try:
                await asyncio.wait(pumps, timeout=5.0)
            finally:
                for task in pumps:
                    task.cancel()
                out.close()
                if terminal is not None:
                    os.close(terminal)

    async def _watch_process(
        self,
        pp: PodProcs,
        cp: ContainerProc,
        proc: asyncio.subprocess.Process,
        env: dict[str, str],
        started_at: str,
    ) -> Terminated:
        """Publish a started process, probe it until it exits (or liveness kills it)."""
        name = cp.view.name
        cp.proc = proc
        pid_file = pp.directory / f"{name}.pid"
        started = process_start_time(proc.pid)
        if started:
            with contextlib.suppress(OSError):
                pid_file.write_text(f"{proc.pid} {started}\n")
        container_id = f"process://{proc.pid}"
        if pp.stopping:
            killpg(proc.pid, signal.SIGKILL)
        has_startup = ProbeSpec.parse(cp.spec.get("startupProbe"), "startup") is not None
        has_readiness = ProbeSpec.parse(cp.spec.get("readinessProbe"), "readiness") is not None
        self._changed(
            pp,
            cp,
            state="running",
            started_at=started_at,
            container_id=container_id,
            started=not has_startup,
            ready=not has_startup and not has_readiness,
            reason="",
            message="",
        )
        self._event(pp, "Normal", "Started", f"Started container {name}")
        probes = asyncio.create_task(self._probes(pp, cp, env))
        waiter = asyncio.create_task(proc.wait())
        try:
            await asyncio.wait({probes, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if not waiter.done():
                # A liveness or startup probe failed: kill, as the kubelet does.
                grace = float((pp.pod.get("spec") or {}).get("terminationGracePeriodSeconds") or 0)
                await self._kill(proc, grace if grace > 0 else DEFAULT_GRACE)
            code = await waiter
        finally:
            probes.cancel()
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await probes
        killpg(proc.pid, signal.SIGKILL)  # whatever the main process left behind
        cp.proc = None
        with contextlib.suppress(OSError):
            pid_file.unlink()
        finished = format_time(self.clock.wall())
        sig = -code if code < 0 else None
        exit_code = 128 + sig if sig is not None else code
        return Terminated(
            exit_code,
            "Completed" if exit_code == 0 else "Error",
            started_at,
            finished,
            signal=sig,
            container_id=container_id,
        )

    async def _kill(self, proc: asyncio.subprocess.Process, grace: float) -> None:
        """SIGTERM the group, wait up to ``grace`` seconds, then SIGKILL it."""
        killpg(proc.pid, signal.SIGTERM)
        waiter = asyncio.ensure_future(proc.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(grace))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
        if not waiter.done():
            killpg(proc.pid, signal.SIGKILL)
        await waiter

    # ------------------------------------------------------------------ probes

    async def _probes(self, pp: PodProcs, cp: ContainerProc, env: dict[str, str]) -> None:
        """Run the container's probes; return only when it must be killed."""
        began = self.clock.now()
        startup = ProbeSpec.parse(cp.spec.get("startupProbe"), "startup")
        readiness = ProbeSpec.parse(cp.spec.get("readinessProbe"), "readiness")
        liveness = ProbeSpec.parse(cp.spec.get("livenessProbe"), "liveness")
        if startup is not None:
            if not await self._probe_loop(pp, cp, env, startup, "startup", began):
                return
            self._changed(pp, cp, started=True, ready=readiness is None)
        tasks: list[asyncio.Task[bool]] = []
        if readiness is not None:
            tasks.append(
                asyncio.create_task(self._probe_loop(pp, cp, env, readiness, "readiness", began))
            )
        if liveness is not None:
            tasks.append(
                asyncio.create_task(self._probe_loop(pp, cp, env, liveness, "liveness", began))
            )
        if not tasks:
            await asyncio.Event().wait()  # nothing to probe: wait to be cancelled
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if not any(t.result() is False for t in done):
                await asyncio.Event().wait()
        finally:
            await cancel_and_wait(tasks)

    async def _probe_loop(
        self,
        pp: PodProcs,
        cp: ContainerProc,
        env: dict[str, str],
        spec: ProbeSpec,
        kind: ProbeType,
        began: float,
    ) -> bool:
        """Run one probe worker (:func:`probe_worker`) for this container."""
        name = cp.view.name

        def publish(result: bool) -> None:
            if kind == "readiness":
                self._changed(pp, cp, ready=result)
            elif not result:
                why = "failed liveness probe" if kind == "liveness" else "failed startup probe"
                self._event(pp, "Normal", "Killing", f"Container {name} {why}, will be restarted")

        def failed(detail: str) -> None:
            self._event(pp, "Warning", "Unhealthy", f"{kind.capitalize()} probe failed: {detail}")

        return await probe_worker(
            self.clock,
            spec,
            kind,
            began,
            lambda: probe_once(
                spec,
                cp.spec,
                str(spec.action.get("host") or (pp.ips[0] if pp.ips else "127.0.0.1")),
                env,
                pp.directory,
                self._warn_once,
            ),
            publish,
            failed,
        )

    def _warn_once(self, what: str, message: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            log.warning("process runtime: %s", message)

    # ------------------------------------------------------------------ stopping

    async def _stop(self, pp: PodProcs, grace: float) -> None:
        """SIGTERM every container's group, wait up to ``grace``, then SIGKILL."""
        pp.stopping = True
        procs = [c.proc for c in pp.containers.values() if c.proc is not None]
        for proc in procs:
            killpg(proc.pid, signal.SIGTERM)
        waits = [asyncio.ensure_future(p.wait()) for p in procs]
        if waits:
            sleeper = asyncio.ensure_future(self.clock.sleep(grace))
            try:
                await asyncio.wait({*waits, sleeper}, return_when=asyncio.FIRST_COMPLETED)
                pending = [w for w in waits if not w.done()]
                while pending and not sleeper.done():
                    await asyncio.wait({*pending, sleeper}, return_when=asyncio.FIRST_COMPLETED)
                    pending = [w for w in pending if not w.done()]
            finally:
                sleeper.cancel()
        for proc in procs:
            if proc.returncode is None:
                if pp.terminator is not None:
                    self._event(pp, "Normal", "Killing", "Stopping container after grace period")
                killpg(proc.pid, signal.SIGKILL)
        await cancel_and_wait(c.task for c in pp.containers.values() if c.task is not None)
        for w in waits:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(w, timeout=5.0)

    async def _terminate(self, pp: PodProcs, pod: Obj) -> None:
        """Graceful deletion: stop within the grace period, then confirm the DELETE."""
        meta = meta_of(pod)
        grace = meta.get("deletionGracePeriodSeconds")
        seconds = float(grace) if isinstance(grace, int | float) else DEFAULT_GRACE
        for name in pp.containers:
            self._event(pp, "Normal", "Killing", f"Stopping container {name}")
        try:
            await self._stop(pp, seconds)
            await self._delete(pod)
        finally:
            if self.running.get(pp.key) is pp:
                del self.running[pp.key]
            self._release(pp)

    async def _delete(self, pod: Obj) -> None:
        meta = meta_of(pod)
        try:
            await self.client.delete(
                "pods",
                str(meta.get("name")),
                str(meta.get("namespace")),
                grace_period_seconds=0,
                preconditions={"uid": str(meta.get("uid") or "")},
            )
        except (errors.NotFound, errors.Conflict):
            return
        self.deletions += 1

    def _release(self, pp: PodProcs) -> None:
        ipam = self.ipam.get(pp.node)
        if ipam is not None:
            ipam.release(pp.key)
