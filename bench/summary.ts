// Prints the headline figures of several bench/results/*.json files side by side (bench/gpu.sh ends
// with it): one table per file, then nothing else. Usage: tsx bench/summary.ts FILE.json...
import { readFileSync } from 'node:fs';
import { headlineTable, markdownTable, type Report } from './report.ts';

for (const file of process.argv.slice(2)) {
  const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
  process.stdout.write(
    `\n## ${report.model.summary}, ${report.device} (${report.wallSeconds.toFixed(0)} s)\n\n` +
      `${markdownTable(headlineTable(report.sections))}\n` +
      report.notes.map((n) => `- ${n}\n`).join(''),
  );
}
