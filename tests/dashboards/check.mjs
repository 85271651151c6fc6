// Checks Grafana dashboards: each one is type-checked against @grafana/schema's
// Dashboard type (as an object literal, so unknown fields are errors too) and
// against colo's conventions (a `datasource` variable used by every panel and
// query, no ${DS_...} inputs, a unit on every panel, $__rate_interval in every
// range, stable uids).
//   node check.mjs WORKDIR [--expect-fail] FILE...
// With --expect-fail every FILE must be rejected (proves the check can fail).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const [work, ...rest] = process.argv.slice(2);
const expectFail = rest.includes('--expect-fail');
const files = rest.filter((a) => a !== '--expect-fail');
if (!work || files.length === 0) {
  console.error('usage: node check.mjs WORKDIR [--expect-fail] FILE...');
  process.exit(2);
}

function conventions(d, text) {
  const errs = [];
  if (text.includes('${DS_') || '__inputs' in d) errs.push('uses ${DS_...} inputs (ConfigMap provisioning cannot fill them)');
  if (typeof d.uid !== 'string' || !/^[a-z0-9-]{1,40}$/.test(d.uid)) errs.push(`uid '${d.uid}' is not a stable lowercase id`);
  const vars = d.templating?.list ?? [];
  const ds = vars.find((v) => v.name === 'datasource');
  if (!ds || ds.type !== 'datasource' || ds.query !== 'prometheus') errs.push('no `datasource` variable of type datasource (prometheus)');
  for (const v of vars)
    if (v.type === 'query' && v.datasource?.uid !== '${datasource}') errs.push(`variable ${v.name}: datasource is not \${datasource}`);
  const ids = new Set();
  const panels = (d.panels ?? []).flatMap((p) => (p.type === 'row' ? [p, ...(p.panels ?? [])] : [p]));
  for (const p of panels) {
    const where = `panel ${p.id} '${p.title}'`;
    if (ids.has(p.id)) errs.push(`${where}: duplicate id`);
    ids.add(p.id);
    if (p.type === 'row') continue;
    if (p.datasource?.uid !== '${datasource}') errs.push(`${where}: datasource is not \${datasource}`);
    const unit = p.fieldConfig?.defaults?.unit;
    if (typeof unit !== 'string' || unit === '') errs.push(`${where}: no unit`);
    if (!p.targets?.length) errs.push(`${where}: no queries`);
    for (const t of p.targets ?? []) {
      if (t.datasource?.uid !== '${datasource}') errs.push(`${where} ${t.refId}: datasource is not \${datasource}`);
      if (typeof t.expr !== 'string' || !t.expr) errs.push(`${where} ${t.refId}: no expr`);
      for (const m of (t.expr ?? '').matchAll(/\[([^\]]*)\]/g))
        if (m[1] !== '$__rate_interval' && m[1] !== '$__range') errs.push(`${where} ${t.refId}: range [${m[1]}] is not [$__rate_interval]`);
    }
  }
  return errs;
}

mkdirSync(join(work, 'gen'), { recursive: true });
const results = [];
for (const f of files) {
  const name = basename(f).replace(/[^A-Za-z0-9]/g, '_');
  const text = readFileSync(f, 'utf8');
  let d;
  try {
    d = JSON.parse(text);
  } catch (e) {
    results.push({ f, errs: [`not JSON: ${e.message}`] });
    continue;
  }
  const errs = conventions(d, text);
  const ts = join(work, 'gen', `${name}.ts`);
  // JSON carries a string enum's value ("palette-classic"), which TypeScript
  // accepts only as the enum member: Json<T> turns string enums into the union
  // of their values and leaves everything else as the schema says.
  writeFileSync(ts, `import type { Dashboard } from '@grafana/schema';\n` +
                    `type Json<T> = T extends string ? \`\${T}\` : T extends (infer U)[] ? Json<U>[] :\n` +
                    `  T extends object ? { [K in keyof T]: Json<T[K]> } : T;\n` +
                    `export const dashboard: Json<Dashboard> = ${JSON.stringify(d, null, 2)};\n`);
  writeFileSync(join(work, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, target: 'es2022', module: 'esnext',
                       moduleResolution: 'bundler', skipLibCheck: true },
    files: [ts],
  }));
  try {
    execFileSync(join(work, 'node_modules', '.bin', 'tsc'), ['-p', join(work, 'tsconfig.json'), '--pretty', 'false'],
                 { encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    if (e.status === undefined || e.status === null) throw e;
    errs.push(...`${e.stdout}${e.stderr}`.trim().split('\n').map((l) => `@grafana/schema: ${l}`));
  }
  results.push({ f, errs });
}

let bad = 0;
for (const { f, errs } of results) {
  if (expectFail) {
    if (errs.length === 0) { console.error(`${f}: accepted, but it is broken on purpose: the check cannot fail`); bad++; }
    else console.log(`${f}: rejected as expected:\n  ${errs.slice(0, 3).join('\n  ')}`);
  } else if (errs.length) {
    console.error(`${f}:\n  ${errs.join('\n  ')}`);
    bad++;
  } else {
    console.log(`${f}: ok`);
  }
}
process.exit(bad ? 1 : 0);
