// Sums the vitest JSON results of every package (written by the shared vitest config) into one closing line,
// "N passed, N failed", after a table per package. Exits 1 when a package has failures or wrote no results.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
let passed = 0;
let failed = 0;
const missing = [];
for (const group of ['packages', 'apps']) {
  for (const name of readdirSync(join(root, group)).sort()) {
    if (!existsSync(join(root, group, name, 'vitest.config.ts'))) continue;
    const file = join(root, group, name, 'test-results', 'vitest.json');
    if (!existsSync(file)) {
      missing.push(`${group}/${name}`);
      continue;
    }
    const r = JSON.parse(readFileSync(file, 'utf8'));
    const failures = r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0) + (r.numFailedTestSuites && !r.numFailedTests ? r.numFailedTestSuites : 0);
    passed += r.numPassedTests;
    failed += failures;
    console.log(`${`${group}/${name}`.padEnd(28)} ${String(r.numPassedTests).padStart(4)} passed ${String(failures).padStart(3)} failed`);
  }
}
if (missing.length) console.log(`no test results from: ${missing.join(', ')}`);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 || missing.length > 0 ? 1 : 0;
