// Validates Kubernetes manifests against the Kubernetes OpenAPI schemas shipped by the npm
// package kubernetes-models (run by ops/check.sh; the YAML is turned into JSON first, because
// Node has no YAML parser):
//
//   node ops/k8s/validate.mjs WORKDIR MANIFESTS.json
//
// MANIFESTS.json: [{"file": "ops/k8s/statefulset.yaml", "doc": {...}}, ...].
// 1. Each object goes through its model's validate() (JSON Schema: types, required fields, enums,
//    formats such as int-or-string and quantities).
// 2. For the unknown-field check, which those schemas do not make, WORKDIR gets one .ts file per
//    object assigning it to the model's TypeScript interface; ops/check.sh runs `tsc --noEmit`
//    there and TypeScript's excess-property check rejects misspelt or misplaced keys.
import fs from "node:fs";
import path from "node:path";

const [workdir, input] = process.argv.slice(2);
if (!workdir || !input) {
  console.error("usage: validate.mjs WORKDIR MANIFESTS.json");
  process.exit(2);
}
const docs = JSON.parse(fs.readFileSync(input, "utf8"));
fs.mkdirSync(workdir, { recursive: true });

// Objects that are not Kubernetes API resources (kustomize's own file).
const notApiObjects = new Set(["kustomize.config.k8s.io/v1beta1/Kustomization"]);

let failures = 0;
let checked = 0;
const ts = [];
for (const [i, { file, doc }] of docs.entries()) {
  const where = `${file}: ${doc?.kind ?? "?"} ${doc?.metadata?.name ?? "?"}`;
  if (!doc || typeof doc !== "object" || !doc.apiVersion || !doc.kind) {
    console.error(`${where}: not a Kubernetes object (apiVersion and kind are required)`);
    failures++;
    continue;
  }
  if (notApiObjects.has(`${doc.apiVersion}/${doc.kind}`)) continue;
  const group = doc.apiVersion.includes("/") ? doc.apiVersion : `v1`;
  const module = `kubernetes-models/${group}/${doc.kind}`;
  let Model;
  try {
    Model = (await import(module))[doc.kind];
  } catch (e) {
    console.error(`${where}: no model for ${doc.apiVersion} ${doc.kind} (${module})`);
    failures++;
    continue;
  }
  try {
    new Model(doc).validate();
    checked++;
  } catch (e) {
    console.error(`${where}: ${e.message}`);
    failures++;
  }
  const name = `obj${i}`;
  ts.push(`// ${where}\nimport type { I${doc.kind} as T${i} } from "${module}";\n` +
          `export const ${name}: Json<T${i}> = ${JSON.stringify(doc, null, 2)};\n`);
}

fs.writeFileSync(path.join(workdir, "manifests.ts"),
  "type Json<T> = T extends string ? `${T}` : T extends (infer U)[] ? Json<U>[]\n" +
  "  : T extends object ? { [K in keyof T]: Json<T[K]> } : T;\n" + ts.join("\n"));
fs.writeFileSync(path.join(workdir, "tsconfig.json"), JSON.stringify({
  compilerOptions: {
    strict: true, noEmit: true, module: "nodenext", moduleResolution: "nodenext",
    target: "es2022", skipLibCheck: true, types: [],
  },
  include: ["*.ts"],
}, null, 2));
console.log(`kubernetes-models: ${checked} object(s) valid, ${failures} problem(s)`);
process.exit(failures ? 1 : 0);
