// The reliability figures the suites measure, gathered in test-output/reliability.json (one section per
// suite, replaced on each run) so that test/soak/report.ts can render them as docs/reliability.md tables.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../scripts/local-stack.ts';

export const RELIABILITY_JSON = path.join(repoRoot, 'test-output', 'reliability.json');

export type Sections = Record<string, { recorded_at: string; [key: string]: unknown }>;

export function readSections(file = RELIABILITY_JSON): Sections {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Sections;
  } catch {
    return {};
  }
}

/** Replaces one section (e.g. `corpus`, `faults`, `load.ci`) of the results file. */
export function recordSection(name: string, data: Record<string, unknown>, file = RELIABILITY_JSON): void {
  const sections = readSections(file);
  sections[name] = { recorded_at: new Date().toISOString(), ...data };
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(sections, null, 2)}\n`);
}
