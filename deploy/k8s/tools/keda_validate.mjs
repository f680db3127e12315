// Validates KEDA objects against KEDA's published schema, as the npm package @kubernetes-models/keda
// carries it (installed by `make k8s-tools` into var/k8s-tools). Reads a JSON array of objects on
// stdin; prints a JSON array of {kind, name, error} (error null when the object is valid).
//   node deploy/k8s/tools/keda_validate.mjs <node_modules folder> < objects.json
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const modules = process.argv[2];
const keda = await import(pathToFileURL(join(modules, "@kubernetes-models/keda/keda.sh/v1alpha1/index.js")));
const objects = JSON.parse(readFileSync(0, "utf8"));
const results = objects.map((object) => {
  const Model = keda[object.kind];
  if (!Model) {
    return { kind: object.kind, name: object.metadata?.name, error: `no KEDA model for kind ${object.kind}` };
  }
  try {
    new Model(object).validate();
    return { kind: object.kind, name: object.metadata.name, error: null };
  } catch (error) {
    return { kind: object.kind, name: object.metadata?.name, error: String(error.message) };
  }
});
process.stdout.write(JSON.stringify(results));
