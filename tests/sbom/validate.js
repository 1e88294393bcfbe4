// validate.js SCHEMA_DIR FILE... - validate CycloneDX 1.6 JSON documents
// against the published schema (bom-1.6 with its spdx and jsf parts, as the
// npm package @cyclonedx/cyclonedx-library ships them), with ajv in strict
// mode and every string format checked (ajv-formats, and
// ajv-formats-draft2019 for iri-reference and idn-email).
// Prints "valid FILE" or "invalid FILE" plus ajv's errors; exit 1 if any
// document is invalid.
"use strict";
const fs = require("fs");
const path = require("path");
const Ajv = require("ajv");
const addFormats = require("ajv-formats");
const addDraft2019Formats = require("ajv-formats-draft2019");

const [dir, ...files] = process.argv.slice(2);
if (!dir || files.length === 0) {
	console.error("usage: validate.js SCHEMA_DIR FILE...");
	process.exit(2);
}
const load = (name) => JSON.parse(fs.readFileSync(path.join(dir, name), "utf8"));
// strict: false: the published schema itself is not written for ajv's strict
// mode (e.g. "required" naming properties defined in another branch); that
// mode lints schemas, it does not change what a document must satisfy. An
// unknown format, though, would silently pass: the logger makes it fatal.
const fatal = (...m) => {
	console.error("validate.js: " + m.join(" "));
	process.exit(3);
};
const ajv = new Ajv({
	strict: false, allErrors: true, validateFormats: true,
	logger: { log: console.log, warn: fatal, error: fatal },
});
addFormats(ajv);
addDraft2019Formats(ajv);
// Annotations of the CycloneDX schema (descriptions of enum values), not rules.
ajv.addKeyword("meta:enum");
// The bom schema refers to its parts by these file names, relative to its $id.
for (const part of ["spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json"]) {
	const schema = load(part);
	schema.$id = "http://cyclonedx.org/schema/" + part;
	ajv.addSchema(schema);
}
const validate = ajv.compile(load("bom-1.6.SNAPSHOT.schema.json"));
let bad = 0;
for (const f of files) {
	const doc = JSON.parse(fs.readFileSync(f, "utf8"));
	if (validate(doc)) {
		console.log("valid " + f);
	} else {
		bad++;
		console.log("invalid " + f);
		for (const e of validate.errors.slice(0, 20)) {
			console.log("  " + (e.instancePath || "/") + " " + e.message);
		}
	}
}
process.exit(bad ? 1 : 0);
