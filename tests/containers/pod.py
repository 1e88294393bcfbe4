#!/usr/bin/env python3
"""The pod-like run: deploy/kubernetes's pod, without a cluster.

The image runs in the test engine with the constraints of the pod spec,
every flag read from the manifests (tests/k8s/manifests.mjs): read-only
root, all capabilities dropped, no-new-privileges, uid/gid, the memory and
CPU limits, the ConfigMap as environment. A kubelet stand-in probes it as
the kubelet does, from the manifest's own probe values: HTTP GET on a
fresh connection to the probe port, the probe's timeout, success for
200-399, User-Agent kube-probe/1.xx, Accept */*, startup first, then
readiness and liveness each on its own period, with the failure and
success thresholds. Checked:

  1. it becomes started, ready and live;
  2. with its database stopped it becomes unready, stays live and is never
     restarted (the liveness threshold is never reached, the container
     never exits); with the database back it is ready again;
  3. SIGTERM with the grace period (docker stop -t GRACE, as the kubelet's
     StopContainer): unready within one readiness period, still serving
     meanwhile, exit 0 before the grace period ends.

  DOCKER=/usr/bin/docker DOCKER_HOST=... tests/containers/pod.py IMAGE PG_IMAGE

Prints PASS/FAIL lines and "N passed, N failed"; every wait is bounded and
everything it started is removed at exit.
"""

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCKER = os.environ.get("DOCKER", "docker")
KUBE_UA = "kube-probe/1.30"
NAME = f"evapipod{os.getpid()}"
passes = fails = 0


def log(*a):
    print(*a, flush=True)


def result(ok, what):
    global passes, fails
    if ok:
        passes += 1
        log(f"PASS pod: {what}")
    else:
        fails += 1
        log(f"FAIL pod: {what}")
    return ok


def docker(*args, timeout=120, check=True):
    r = subprocess.run([DOCKER, *args], capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}: {r.stderr.strip()}")
    return r.stdout.strip()


def docker_run_rc(*args, timeout=120):
    """A docker command to completion: (exit status, its output)."""
    r = subprocess.run([DOCKER, *args], capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, r.stdout + r.stderr


# ---- the manifests ------------------------------------------------------------

def manifests():
    out = subprocess.run(["node", os.path.join(ROOT, "tests", "k8s", "manifests.mjs")],
                         capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)


def mem_bytes(q):
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi)?", q)
    return int(m.group(1)) * {None: 1, "Ki": 1024, "Mi": 1 << 20, "Gi": 1 << 30}[m.group(2)]


def cpus(q):
    return int(q[:-1]) / 1000 if q.endswith("m") else float(q)


def run_flags(pod, ctr):
    """docker run flags for the pod's constraints, each from the manifest."""
    psc, csc = pod["securityContext"], ctr["securityContext"]
    flags = []
    if csc.get("readOnlyRootFilesystem"):
        flags.append("--read-only")
    if csc["capabilities"]["drop"] == ["ALL"]:
        flags += ["--cap-drop", "ALL"]
    if csc.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    # RuntimeDefault: the engine's default seccomp profile, left in place.
    assert csc["seccompProfile"]["type"] == "RuntimeDefault"
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    gid = csc.get("runAsGroup", psc.get("runAsGroup"))
    flags += ["--user", f"{uid}:{gid}"]
    lim = ctr["resources"]["limits"]
    flags += ["--memory", str(mem_bytes(lim["memory"])), "--memory-swap",
              str(mem_bytes(lim["memory"])), "--cpus", str(cpus(lim["cpu"]))]
    return flags, uid


# ---- the kubelet stand-in --------------------------------------------------------

def probe_once(port, path, timeout):
    """One probe as the kubelet makes it; True for 200-399."""
    req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
           f"User-Agent: {KUBE_UA}\r\nAccept: */*\r\nConnection: close\r\n\r\n")
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(req.encode())
            data = b""
            while b"\r\n" not in data:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                s.settimeout(left)
                b = s.recv(4096)
                if not b:
                    break
                data += b
        m = re.match(rb"HTTP/1\.[01] (\d{3}) ", data)
        return bool(m) and 200 <= int(m.group(1)) < 400
    except OSError:
        return False


class Kubelet:
    """Startup, then readiness and liveness, each on its own period."""

    def __init__(self, ctr, port):
        self.p = {k: ctr[k] for k in ("startupProbe", "readinessProbe", "livenessProbe")}
        self.port = port
        self.t0 = time.monotonic()
        self.started = self.ready = self.live = False
        self.restart_due = False   # liveness or startup threshold reached
        self.events = []           # (seconds since start, what)
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def note(self, what):
        with self.lock:
            self.events.append((time.monotonic() - self.t0, what))

    def first(self, what, after=0.0):
        with self.lock:
            return next((t for t, w in self.events if w == what and t >= after), None)

    def _run(self, kind, on_result):
        p = self.p[kind]
        fails = succ = 0
        while not self.stop.is_set():
            t = time.monotonic()
            ok = probe_once(self.port, p["httpGet"]["path"], p.get("timeoutSeconds", 1))
            if ok:
                fails, succ = 0, succ + 1
            else:
                fails, succ = fails + 1, 0
            if on_result(p, ok, fails, succ):
                return
            self.stop.wait(max(0.0, p.get("periodSeconds", 10) - (time.monotonic() - t)))

    def _startup(self, p, ok, fails, succ):
        if ok:
            self.started = True
            self.note("started")
            threading.Thread(target=self._run, args=("readinessProbe", self._readiness), daemon=True).start()
            threading.Thread(target=self._run, args=("livenessProbe", self._liveness), daemon=True).start()
            return True
        if fails >= p.get("failureThreshold", 3):
            self.restart_due = True
            self.note("startup failed: restart")
            return True
        return False

    def _readiness(self, p, ok, fails, succ):
        if ok and not self.ready and succ >= p.get("successThreshold", 1):
            self.ready = True
            self.note("ready")
        elif not ok and self.ready and fails >= p.get("failureThreshold", 3):
            self.ready = False
            self.note("unready")
        return False

    def _liveness(self, p, ok, fails, succ):
        if ok and not self.live:
            self.live = True
            self.note("live")
        if not ok:
            self.note("liveness failure")
            if fails >= p.get("failureThreshold", 3):
                self.restart_due = True
                self.note("liveness failed: restart")
        return False

    def start(self):
        threading.Thread(target=self._run, args=("startupProbe", self._startup), daemon=True).start()

    def wait(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return True
            time.sleep(0.05)
        return False


# ---- the run ---------------------------------------------------------------------------

def inspect(c, fmt):
    return docker("inspect", "-f", fmt, c)


def host_port(c, port):
    return int(docker("port", c, f"{port}/tcp").splitlines()[0].rsplit(":", 1)[1])


def main():
    image, pg_image = sys.argv[1], sys.argv[2]
    m = manifests()
    pod = m["Deployment"]["spec"]["template"]["spec"]
    ctr = pod["containers"][0]
    grace = pod["terminationGracePeriodSeconds"]
    env = dict(m["ConfigMap"]["data"])
    ports = {p["name"]: p["containerPort"] for p in ctr["ports"]}
    flags, uid = run_flags(pod, ctr)
    log(f"pod: docker run {' '.join(flags)} (from deploy/kubernetes)")
    net, db, api = NAME, NAME + "-db", NAME + "-api"
    password = secrets.token_urlsafe(18)   # random per run, never printed
    try:
        docker("network", "create", net)
        docker("run", "-d", "--name", db, "--network", net, "--network-alias", "db",
               "-e", "POSTGRES_USER=evapi", "-e", f"POSTGRES_PASSWORD={password}",
               "-e", "POSTGRES_DB=evapi", pg_image)
        t = time.monotonic()
        while docker("exec", db, "pg_isready", "-h", "127.0.0.1", "-U", "evapi",
                     check=False, timeout=10) .find("accepting") < 0:
            if time.monotonic() - t > 60:
                raise RuntimeError("the database did not start in 60 s")
            time.sleep(0.5)
        env["DATABASE_URL"] = (f"postgresql://evapi:{password}@db:5432/evapi"
                               "?sslmode=disable&connect_timeout=5")
        envargs = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
        # The init container first, as the kubelet runs it: to completion,
        # with its own constraints from the manifest, before the server.
        for init in pod.get("initContainers", []):
            iflags, _ = run_flags(pod, init)
            r = docker_run_rc("run", "--rm", "--network", net, *iflags, *envargs,
                              image, *init.get("args", []))
            result(r[0] == 0, f"init container {init['name']} ({' '.join(init.get('args', []))}) "
                              f"exited {r[0]}: {r[1].strip().splitlines()[-1:]}")
        docker("run", "-d", "--name", api, "--network", net, "--restart", "no",
               "-p", f"127.0.0.1::{ports['http']}", "-p", f"127.0.0.1::{ports['probes']}",
               *flags, *envargs, image)
        scenario(api, db, ctr, grace, env, ports, uid)
    finally:
        for c in (api, db):
            docker("rm", "-f", c, check=False)
        docker("network", "rm", net, check=False)
    log(f"{passes} passed, {fails} failed")
    return 1 if fails else 0


def scenario(api, db, ctr, grace, env, ports, uid):
    probe_port, http_port = host_port(api, ports["probes"]), host_port(api, ports["http"])
    kl = Kubelet(ctr, probe_port)
    started_at = inspect(api, "{{.State.StartedAt}}")
    kl.start()
    rp, lp = ctr["readinessProbe"], ctr["livenessProbe"]
    sp = ctr["startupProbe"]

    # 1. started, ready, live.
    ok = kl.wait(lambda: kl.started and kl.ready and kl.live,
                 sp["periodSeconds"] * sp["failureThreshold"] + lp["periodSeconds"] + 5)
    result(ok, "started at %.2f s, ready at %s s, live at %s s (kubelet cadence from the manifest)" % (
        kl.first("started") or -1, fmt(kl.first("ready")), fmt(kl.first("live"))))
    if not ok:
        log(docker("logs", "--tail", "20", api, check=False))
        return
    pid = inspect(api, "{{.State.Pid}}")
    with open(f"/proc/{pid}/status") as f:
        uids = re.search(r"^Uid:\s+(.*)$", f.read(), re.M).group(1).split()
    result(uids == [str(uid)] * 4, f"process uids {' '.join(uids)} = runAsUser {uid}")
    hc = json.loads(docker("inspect", "-f", "{{json .HostConfig}}", api))
    lim = ctr["resources"]["limits"]
    applied = (hc["ReadonlyRootfs"], hc["CapDrop"], hc["SecurityOpt"], hc["Memory"],
               hc["NanoCpus"])
    result(applied == (True, ["ALL"], ["no-new-privileges"], mem_bytes(lim["memory"]),
                       int(cpus(lim["cpu"]) * 1e9)),
           f"the engine applied them: read-only, cap-drop, no-new-privileges, memory, cpus {applied}")
    workers = re.search(r'"workers":"(\d+)"', docker("logs", api))
    result(workers and int(workers.group(1)) == int(cpus(ctr["resources"]["limits"]["cpu"]) + 0.999),
           f"WORKERS=auto took the CPU limit: {workers.group(1) if workers else '?'} loops")

    # 2. the database stops: unready, live, never restarted.
    t_stop = time.monotonic() - kl.t0
    docker("stop", "-t", "10", db)
    window = lp["periodSeconds"] + 2   # at least one liveness probe in the outage
    ok = kl.wait(lambda: not kl.ready, rp["periodSeconds"] * (rp["failureThreshold"] + 1) + 5)
    t_unready = kl.first("unready", t_stop)
    result(ok, f"database stopped: unready after {fmt(t_unready and t_unready - t_stop)} s")
    time.sleep(max(0.0, window - (time.monotonic() - kl.t0 - t_stop)))
    lf = [t for t, w in kl.events if w == "liveness failure" and t >= t_stop]
    live_probes = window // lp["periodSeconds"]
    result(not lf and kl.live and not kl.restart_due,
           f"database stopped {window} s: live throughout ({live_probes}+ liveness probes, "
           f"{len(lf)} failures), restart never due")
    result(inspect(api, "{{.State.Running}} {{.RestartCount}} {{.State.StartedAt}}") ==
           f"true 0 {started_at}", "the container never exited or restarted")
    t_start = time.monotonic() - kl.t0
    docker("start", db)
    ok = kl.wait(lambda: kl.ready, 60)
    t_ready = kl.first("ready", t_start)
    result(ok, f"database started again: ready after {fmt(t_ready and t_ready - t_start)} s")

    # 3. SIGTERM with the grace period, as the kubelet stops a container.
    t_term = time.monotonic()
    stopper = threading.Thread(target=docker, args=("stop", "-t", str(grace), api),
                               kwargs={"timeout": grace + 30}, daemon=True)
    stopper.start()
    ok = kl.wait(lambda: not kl.ready, rp["periodSeconds"] + rp["timeoutSeconds"] + 0.5)
    t_unready = kl.first("unready", t_term - kl.t0)
    result(ok, f"SIGTERM: unready after {fmt(t_unready and t_unready - (t_term - kl.t0))} s "
           f"(one readiness period is {rp['periodSeconds']} s)")
    # Connections routed by not-yet-updated endpoints still get answers.
    time.sleep(max(0.0, int(env["DRAIN_DELAY"]) - 1.5 - (time.monotonic() - t_term)))
    served = probe_once(http_port, "/health", 1)
    result(served, f"still serving on PORT {time.monotonic() - t_term:.1f} s after SIGTERM "
           f"(DRAIN_DELAY={env['DRAIN_DELAY']})")
    stopper.join(grace + 30)
    took = time.monotonic() - t_term
    code = inspect(api, "{{.State.ExitCode}}")
    result(code == "0" and took < grace,
           f"exit {code} {took:.1f} s after SIGTERM, before the {grace} s grace period")
    result(not kl.restart_due, "no liveness or startup failure ever called for a restart")
    kl.stop.set()
    for t, w in kl.events:
        log(f"  kubelet {t:6.2f} s  {w}")


def fmt(x):
    return "?" if x is None else f"{x:.2f}"


if __name__ == "__main__":
    sys.exit(main())
