// Type-checks the dashboards against Grafana's own schema types (npm @grafana/schema, which ships
// TypeScript types, not a JSON Schema): writes one .ts file per dashboard into WORKDIR that assigns
// the JSON to `Dashboard`, and each panel's `options` / `fieldConfig.defaults.custom` to the
// panel plugin's `Options` / `FieldConfig`, then ops/check.sh runs `tsc --noEmit` there.
// Object literals get TypeScript's excess-property check, so unknown keys are errors too.
//
// usage: node ops/grafana/typecheck.mjs WORKDIR DASHBOARD.json...
import fs from "node:fs";
import path from "node:path";

const [workdir, ...files] = process.argv.slice(2);
if (!workdir || files.length === 0) {
  console.error("usage: typecheck.mjs WORKDIR DASHBOARD.json...");
  process.exit(2);
}

const plugins = {
  timeseries: "timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen",
  stat: "stat/panelcfg/x/StatPanelCfg_types.gen",
  bargauge: "bargauge/panelcfg/x/BarGaugePanelCfg_types.gen",
  piechart: "piechart/panelcfg/x/PieChartPanelCfg_types.gen",
  table: "table/panelcfg/x/TablePanelCfg_types.gen",
};
const hasFieldConfig = new Set(["timeseries", "piechart", "table"]);

// JSON has strings where the schema has string enums: map every string enum to its values.
const header = `import type { Dashboard } from "@grafana/schema";
${Object.entries(plugins)
  .map(([k, p]) => `import type * as ${k} from "@grafana/schema/dist/esm/raw/composable/${p}";`)
  .join("\n")}
type Json<T> = T extends string ? \`\${T}\` : T extends (infer U)[] ? Json<U>[]
  : T extends object ? { [K in keyof T]: Json<T[K]> } : T;
type Exported = Json<Dashboard> & { __inputs?: object[]; __requires?: object[] };
`;

fs.mkdirSync(workdir, { recursive: true });
for (const file of files) {
  const dash = JSON.parse(fs.readFileSync(file, "utf8"));
  const name = path.basename(file, ".json").replace(/[^A-Za-z0-9]/g, "_");
  let out = header + `export const ${name}: Exported = ${JSON.stringify(dash, null, 2)};\n`;
  for (const p of dash.panels ?? []) {
    if (p.type === "row") continue;
    if (!plugins[p.type]) {
      console.error(`${file}: panel ${p.id} has type ${p.type}, which typecheck.mjs does not know`);
      process.exit(1);
    }
    out += `export const ${name}_${p.id}_options: Json<${p.type}.Options> = ${JSON.stringify(p.options)};\n`;
    if (hasFieldConfig.has(p.type)) {
      const custom = p.fieldConfig?.defaults?.custom ?? {};
      out += `export const ${name}_${p.id}_custom: Json<${p.type}.FieldConfig> = ${JSON.stringify(custom)};\n`;
    }
  }
  fs.writeFileSync(path.join(workdir, `${name}.ts`), out);
}
fs.writeFileSync(
  path.join(workdir, "tsconfig.json"),
  JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, module: "nodenext", moduleResolution: "nodenext",
      target: "es2022", skipLibCheck: true, types: [],
    },
    include: ["*.ts"],
  }, null, 2),
);
