// The benchmark report: sections of tables plus headline figures, rendered as markdown for the
// console and bench/results/, and kept as JSON (every raw figure) next to it.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Machine } from './stats.ts';

export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
}

/** One figure worth reading first (a ratio, a best throughput), with what it compares. */
export interface Headline {
  figure: string;
  value: string;
  detail: string;
}

export interface Section {
  id: string;
  title: string;
  tables: Table[];
  notes: string[];
  headlines: Headline[];
  /** Raw measurements, for the JSON file. */
  data: unknown;
}

export interface Report {
  date: string;
  command: string;
  machine: Machine;
  model: { dir: string; id: string; summary: string };
  device: string;
  threads: string;
  wallSeconds: number;
  notes: string[];
  sections: Section[];
}

export function markdownTable(table: Table): string {
  const widths = table.columns.map((c, i) =>
    Math.max(c.length, ...table.rows.map((r) => (r[i] ?? '').length)),
  );
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    line(table.columns),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...table.rows.map((r) => line(table.columns.map((_, i) => r[i] ?? ''))),
  ].join('\n');
}

export function headlineTable(sections: readonly Section[]): Table {
  return {
    title: 'Headline figures',
    columns: ['figure', 'value', 'what'],
    rows: sections.flatMap((s) => s.headlines.map((h) => [h.figure, h.value, h.detail])),
  };
}

export function renderMarkdown(report: Report): string {
  const m = report.machine;
  const out: string[] = [
    `# GigaTok Edge benchmark: ${report.model.id} on ${report.device}`,
    '',
    `- date: ${report.date}`,
    `- command: \`${report.command}\``,
    `- machine: ${m.cpu}, ${m.cores} logical cores, ${m.memoryGiB} GiB, ${m.platform}, Node ${m.node}; ` +
      `load average at start ${m.loadAverage.join(' / ')}`,
    `- model: ${report.model.summary} (${report.model.dir})`,
    `- onnxruntime intra-op threads: ${report.threads}; wall time of the run: ${report.wallSeconds.toFixed(0)} s`,
    ...report.notes.map((n) => `- ${n}`),
    '',
    `## ${headlineTable(report.sections).title}`,
    '',
    markdownTable(headlineTable(report.sections)),
  ];
  for (const section of report.sections) {
    out.push('', `## ${section.title}`);
    for (const table of section.tables) out.push('', `**${table.title}**`, '', markdownTable(table));
    if (section.notes.length > 0) out.push('', ...section.notes.map((n) => `- ${n}`));
  }
  return `${out.join('\n')}\n`;
}

/** Writes `<stem>.json` and `<stem>.md` (and latest.*) under `dir`; returns the markdown path. */
export function writeReport(report: Report, dir: string, stem: string): string {
  mkdirSync(dir, { recursive: true });
  const md = renderMarkdown(report);
  const json = `${JSON.stringify(report, null, 2)}\n`;
  for (const name of [stem, 'latest']) {
    writeFileSync(path.join(dir, `${name}.md`), md);
    writeFileSync(path.join(dir, `${name}.json`), json);
  }
  return path.join(dir, `${stem}.md`);
}
