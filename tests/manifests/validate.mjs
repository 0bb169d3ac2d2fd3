// Offline schema check of Kubernetes manifests, as `kubectl apply --dry-run=client` would do
// without a cluster: each object is checked against the OpenAPI schema of its kind from the
// Kubernetes API (kubernetes-models bundles them), and custom resources against the
// openAPIV3Schema of a CustomResourceDefinition given in the same run.
//
//   node validate.mjs FILE...      one line per object; exit 1 if any object is invalid
import { readFileSync } from "node:fs";
import Ajv from "ajv";
import { parseAllDocuments } from "yaml";

const crds = new Map(); // "group/version Kind" -> compiled schema
const objects = [];
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length) {
      console.log(`${file}: YAML: ${doc.errors[0].message}`);
      process.exitCode = 1;
      continue;
    }
    const obj = doc.toJS();
    if (obj) objects.push({ file, obj });
  }
}

const ajv = new Ajv({ strict: false, allErrors: true });
for (const { obj } of objects) {
  if (obj.kind !== "CustomResourceDefinition") continue;
  for (const v of obj.spec.versions) {
    crds.set(`${obj.spec.group}/${v.name} ${obj.spec.names.kind}`,
             ajv.compile(structural(v.schema.openAPIV3Schema)));
  }
}

// The API server rejects (fieldValidation=Strict, kubectl's default since 1.27) or drops fields a
// structural schema does not declare: make that an error here too.
function structural(schema) {
  if (schema === null || typeof schema !== "object") return schema;
  const out = Array.isArray(schema) ? [] : {};
  for (const [k, v] of Object.entries(schema)) {
    if (k.startsWith("x-kubernetes-")) continue;
    out[k] = structural(v);
  }
  if (out.type === "object" && out.properties && out.additionalProperties === undefined)
    out.additionalProperties = false;
  return out;
}

function modulePath(apiVersion, kind) {
  // "v1" (core) -> v1/Kind; "apps/v1" -> apps/v1/Kind
  return `kubernetes-models/${apiVersion}/${kind}`;
}

for (const { file, obj } of objects) {
  const what = `${file}: ${obj.kind}/${obj.metadata?.name}`;
  let errors = null;
  const crd = crds.get(`${obj.apiVersion} ${obj.kind}`);
  if (crd) {
    if (!crd(obj)) errors = crd.errors.map((e) => `${e.instancePath} ${e.message}`).join("; ");
  } else {
    let mod;
    try {
      mod = await import(modulePath(obj.apiVersion, obj.kind));
    } catch {
      errors = `unknown kind ${obj.kind} in ${obj.apiVersion}`;
    }
    if (mod) {
      try {
        new mod[obj.kind](obj).validate();
      } catch (e) {
        errors = e.message;
      }
    }
  }
  console.log(errors ? `INVALID ${what}: ${errors}` : `ok ${what}`);
  if (errors) process.exitCode = 1;
}
