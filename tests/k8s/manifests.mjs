// The manifests of deploy/kubernetes, parsed (shared by the tests and by
// the pod-like run, which takes its values from here).
//
//   node tests/k8s/manifests.mjs     prints {"Deployment": {...}, ...} as JSON
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

export const DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..",
  "deploy", "kubernetes");

// Every document of every YAML file: [{file, doc}].
export function load(dir = DIR) {
  const out = [];
  for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const d of parseAllDocuments(readFileSync(join(dir, file), "utf8"))) {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
      const doc = d.toJS();
      if (doc !== null) out.push({ file, doc });
    }
  }
  return out;
}

// The one object of KIND.
export function one(docs, kind) {
  const all = docs.filter((d) => d.doc.kind === kind);
  if (all.length !== 1) throw new Error(`${all.length} objects of kind ${kind}`);
  return all[0].doc;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const docs = load();
  const out = {};
  for (const { doc } of docs) out[doc.kind] = doc;
  process.stdout.write(JSON.stringify(out) + "\n");
}
