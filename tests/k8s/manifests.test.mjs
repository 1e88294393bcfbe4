// deploy/kubernetes, proven without a cluster: every manifest validated
// against the Kubernetes API schema (kubernetes-models, generated from the
// API's published OpenAPI definitions), then what a schema cannot say:
// the restricted Pod Security Standard, probe ports that are the
// container's, the drain's arithmetic, and the pieces fitting together.
//
//   cd tests/k8s && npm ci && node --test
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Job } from "kubernetes-models/batch/v1/Job";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { DIR, load, one } from "./manifests.mjs";

const MODELS = {
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "apps/v1/Deployment": Deployment,
  "batch/v1/Job": Job,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
};

function validate(doc) {
  if (doc.kind === "Kustomization") return;
  const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
  assert.ok(Model, `no schema for ${doc.apiVersion} ${doc.kind}`);
  new Model(doc).validate(); // throws with the failing path
}

const docs = load();
const byKind = (k) => one(docs, k);
const dep = byKind("Deployment");
const pod = dep.spec.template.spec;
const ctr = pod.containers[0];
const settings = byKind("ConfigMap").data;
const seconds = (name) => Number(settings[name]);

test("every manifest validates against the API schema", () => {
  assert.ok(docs.length >= 7, `only ${docs.length} documents`);
  for (const { file, doc } of docs) {
    assert.doesNotThrow(() => validate(doc), `${file}: ${doc.kind}`);
  }
});

test("the schema check fails on a broken manifest", () => {
  const bad = structuredClone(dep);
  bad.spec.template.spec.containers[0].ports[0].containerPort = "8080";
  assert.throws(() => validate(bad), /containerPort must be integer/);
  const noSelector = structuredClone(dep);
  delete noSelector.spec.selector;
  assert.throws(() => validate(noSelector), /selector/);
});

test("the kustomization lists every manifest but the Secret example", () => {
  const k = byKind("Kustomization");
  const files = [...new Set(docs.map((d) => d.file))]
    .filter((f) => f !== "kustomization.yaml" && f !== "secret.example.yaml");
  assert.deepEqual([...k.resources].sort(), files.sort());
  for (const f of k.resources) assert.ok(existsSync(join(DIR, f)), f);
  assert.ok(k.images.some((i) => i.name === ctr.image), "images: names the container's image");
});

test("3 replicas, rolling update with maxUnavailable 0", () => {
  assert.equal(dep.spec.replicas, 3);
  assert.equal(dep.spec.strategy.type, "RollingUpdate");
  assert.equal(dep.spec.strategy.rollingUpdate.maxUnavailable, 0);
  assert.ok(dep.spec.strategy.rollingUpdate.maxSurge >= 1, "maxSurge lets a new pod in");
});

test("restricted Pod Security Standard", () => {
  const psc = pod.securityContext;
  assert.equal(pod.automountServiceAccountToken, false);
  for (const c of [...(pod.initContainers || []), ...pod.containers]) {
    const csc = c.securityContext;
    for (const sc of [psc, csc]) {
      assert.equal(sc.runAsNonRoot, true, c.name);
      assert.equal(sc.runAsUser, 10001, c.name);
      assert.equal(sc.seccompProfile.type, "RuntimeDefault", c.name);
    }
    assert.equal(csc.allowPrivilegeEscalation, false, c.name);
    assert.equal(csc.readOnlyRootFilesystem, true, c.name);
    assert.deepEqual(csc.capabilities.drop, ["ALL"], c.name);
    assert.equal(csc.capabilities.add, undefined, c.name);
    assert.equal(csc.privileged, undefined, c.name);
  }
  for (const k of ["hostNetwork", "hostPID", "hostIPC", "volumes"]) {
    assert.equal(pod[k], undefined, k);
  }
});

test("an init container migrates with the server's image, settings and secret", () => {
  const inits = pod.initContainers || [];
  assert.equal(inits.length, 1);
  const m = inits[0];
  assert.equal(m.image, ctr.image);
  assert.deepEqual(m.args, ["--migrate"]);
  assert.deepEqual(m.envFrom, ctr.envFrom);
  assert.deepEqual(m.env, ctr.env);
  assert.ok(m.resources.limits.memory, "a memory limit");
});

test("the migration Job: evapi --migrate with the pods' image, settings, secret and restrictions", () => {
  const job = byKind("Job");
  const jp = job.spec.template.spec, jc = jp.containers[0];
  assert.equal(jp.containers.length, 1);
  assert.deepEqual(jc.args, ["--migrate"]);
  assert.equal(jc.image, ctr.image);
  assert.deepEqual(jc.envFrom, ctr.envFrom);
  assert.deepEqual(jc.env, ctr.env);
  assert.deepEqual(jc.securityContext, pod.initContainers[0].securityContext);
  assert.deepEqual(jp.securityContext, pod.securityContext);
  assert.equal(jp.automountServiceAccountToken, false);
  assert.equal(jp.restartPolicy, "OnFailure");
  assert.ok(job.spec.backoffLimit >= 1, "retried");
  assert.ok(job.spec.ttlSecondsAfterFinished > 0, "removed after it ends: the next apply recreates it");
  assert.ok(job.spec.activeDeadlineSeconds > 0, "bounded");
});

test("probes on PROBE_PORT: the container's port, paths as reasoned", () => {
  const port = (name) => ctr.ports.find((p) => p.name === name)?.containerPort;
  assert.equal(port("http"), Number(settings.PORT), "http port = PORT");
  assert.equal(port("probes"), Number(settings.PROBE_PORT), "probes port = PROBE_PORT");
  const paths = {};
  for (const kind of ["startupProbe", "readinessProbe", "livenessProbe"]) {
    const p = ctr[kind];
    assert.ok(p?.httpGet, `${kind} is an HTTP GET`);
    const target = typeof p.httpGet.port === "string" ? port(p.httpGet.port) : p.httpGet.port;
    assert.equal(target, Number(settings.PROBE_PORT), `${kind} on PROBE_PORT`);
    assert.ok(p.timeoutSeconds >= 1 && p.periodSeconds >= 1, kind);
    paths[kind] = p.httpGet.path;
  }
  assert.deepEqual(paths, { startupProbe: "/ready", readinessProbe: "/ready", livenessProbe: "/health" });
  // /ready's own deadline (READY_TIMEOUT_MS, default 500 ms) fits the timeout.
  assert.ok(ctr.readinessProbe.timeoutSeconds * 1000 > Number(settings.READY_TIMEOUT_MS ?? 500));
  const s = ctr.startupProbe;
  assert.ok(s.periodSeconds * s.failureThreshold >= 30, "startup allows a slow first connection");
});

test("the drain: endpoints go before the listener, SIGKILL never cuts it", () => {
  const r = ctr.readinessProbe, l = ctr.livenessProbe;
  const grace = pod.terminationGracePeriodSeconds;
  const delay = seconds("DRAIN_DELAY"), limit = seconds("SHUTDOWN_TIMEOUT");
  assert.ok(delay >= r.periodSeconds * r.failureThreshold + r.timeoutSeconds,
    "the kubelet sees /ready 503 before the listeners close");
  assert.ok(delay >= 3, "endpoint removal has a few seconds to spread");
  assert.ok(delay < limit, "DRAIN_DELAY < SHUTDOWN_TIMEOUT");
  assert.ok(limit + 3 <= grace, "evapi exits well before SIGKILL");
  assert.ok(l.periodSeconds * l.failureThreshold > grace, "liveness cannot restart a drain");
  assert.equal(ctr.lifecycle?.preStop, undefined, "no preStop: the image has no shell");
});

test("resources sized, WORKERS left at auto, spread across nodes", () => {
  const { requests, limits } = ctr.resources;
  const mi = (q) => Number(q.replace(/Mi$/, ""));
  assert.ok(mi(requests.memory) >= 16 && mi(requests.memory) <= mi(limits.memory));
  assert.ok(limits.cpu && requests.cpu, "the CPU limit sizes WORKERS=auto");
  assert.equal(settings.WORKERS, undefined);
  assert.equal((ctr.env ?? []).find((e) => e.name === "WORKERS"), undefined);
  const spread = pod.topologySpreadConstraints.find((t) => t.topologyKey === "kubernetes.io/hostname");
  assert.ok(spread, "spread over nodes");
  assert.deepEqual(spread.labelSelector.matchLabels, dep.spec.selector.matchLabels);
});

test("Service, PDB, HPA and the Secret fit the Deployment", () => {
  const labels = dep.spec.template.metadata.labels;
  const matches = (sel) => Object.entries(sel).every(([k, v]) => labels[k] === v);
  assert.deepEqual(dep.spec.selector.matchLabels, Object.fromEntries(
    Object.entries(labels).filter(([k]) => k in dep.spec.selector.matchLabels)));
  const svc = byKind("Service");
  assert.ok(matches(svc.spec.selector), "Service selects the pods");
  assert.ok(ctr.ports.some((p) => p.name === svc.spec.ports[0].targetPort));
  assert.ok(!svc.spec.ports.some((p) => p.targetPort === "probes"), "probe port stays private");
  const pdb = byKind("PodDisruptionBudget");
  assert.ok(matches(pdb.spec.selector.matchLabels), "PDB selects the pods");
  assert.ok(pdb.spec.maxUnavailable === 1 || pdb.spec.minAvailable === 2);
  const hpa = byKind("HorizontalPodAutoscaler");
  assert.equal(hpa.spec.scaleTargetRef.name, dep.metadata.name);
  assert.equal(hpa.spec.scaleTargetRef.kind, "Deployment");
  assert.ok(hpa.spec.minReplicas >= dep.spec.replicas);
  assert.equal(hpa.spec.metrics[0].resource.name, "cpu");
  const secret = byKind("Secret");
  const ref = ctr.env.find((e) => e.name === "DATABASE_URL").valueFrom.secretKeyRef;
  assert.equal(ref.name, secret.metadata.name);
  assert.match(secret.stringData[ref.key], /^postgresql:\/\/evapi:CHANGE-ME@/, "a placeholder, never a password");
  assert.equal(ctr.envFrom[0].configMapRef.name, byKind("ConfigMap").metadata.name);
});

// kustomize itself, where a kubectl with it is installed (not a Debian
// package of this release): the rendered set validates too.
test("kubectl kustomize renders objects that validate", (t) => {
  let out;
  try {
    out = execFileSync("kubectl", ["kustomize", DIR], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    if (e.code === "ENOENT") return t.skip("no kubectl here");
    throw e;
  }
  const rendered = parseAllDocuments(out).map((d) => d.toJS());
  assert.equal(rendered.length, 6);
  for (const doc of rendered) validate(doc);
  const d = rendered.find((x) => x.kind === "Deployment");
  const j = rendered.find((x) => x.kind === "Job");
  assert.equal(d.spec.template.spec.containers[0].image, "registry.example.com/evapi:0.1.0");
  assert.equal(d.spec.template.spec.initContainers[0].image, "registry.example.com/evapi:0.1.0");
  assert.equal(j.spec.template.spec.containers[0].image, "registry.example.com/evapi:0.1.0");
});
