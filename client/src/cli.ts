// The `gigatok` command line: finds the command in argv, runs it, and maps failures to exit codes
// (0 ok, 1 API/network error or a job that did not succeed, 2 usage error, 130 interrupted).

import { GLOBAL_HELP, GLOBAL_OPTIONS, UsageError } from './cli/args.ts';
import { dataset } from './cli/commands/datasets.ts';
import { generate } from './cli/commands/generate.ts';
import { jobs } from './cli/commands/jobs.ts';
import { keys } from './cli/commands/keys.ts';
import { models } from './cli/commands/models.ts';
import { detokenize, tokenize } from './cli/commands/tokens.ts';
import { webhooks } from './cli/commands/webhooks.ts';
import type { CliContext, Command } from './cli/context.ts';
import { GigaTokApiError, GigaTokError } from './errors.ts';

export const COMMANDS: readonly Command[] = [
  tokenize,
  detokenize,
  generate,
  jobs,
  dataset,
  webhooks,
  keys,
  models,
];

export const EXIT = { ok: 0, apiError: 1, usage: 2, interrupted: 130 } as const;

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const list = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n');
  return `Usage: gigatok <command> [options]

Commands:
${list}

Run "gigatok <command> --help" for a command's options.

${GLOBAL_HELP}
`;
}

/** Splits argv into the command name and the rest (global options may come before the command). */
export function splitCommand(argv: readonly string[]): { name: string | undefined; rest: string[] } {
  const takesValue = new Set(
    Object.entries(GLOBAL_OPTIONS)
      .filter(([, o]) => o.type === 'string')
      .map(([name]) => `--${name}`),
  );
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (takesValue.has(arg)) {
      i++;
      continue;
    }
    if (arg === '--') break;
    if (!arg.startsWith('-')) return { name: arg, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { name: undefined, rest: [...argv] };
}

export async function main(argv: readonly string[], ctx: CliContext): Promise<number> {
  const { name, rest } = splitCommand(argv);
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  if (name === undefined || name === 'help') {
    (wantsHelp || name === 'help' ? ctx.stdout : ctx.stderr).write(mainHelp());
    return wantsHelp || name === 'help' ? EXIT.ok : EXIT.usage;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    ctx.stderr.write(`gigatok: unknown command ${JSON.stringify(name)}\n\n${mainHelp()}`);
    return EXIT.usage;
  }
  if (wantsHelp) {
    ctx.stdout.write(`${command.usage}\n`);
    return EXIT.ok;
  }
  try {
    return await command.run(rest, ctx);
  } catch (error) {
    return report(error, command, ctx);
  }
}

function report(error: unknown, command: Command, ctx: CliContext): number {
  if (ctx.signal.aborted) {
    ctx.stderr.write('interrupted\n');
    return EXIT.interrupted;
  }
  if (error instanceof UsageError) {
    ctx.stderr.write(`gigatok ${command.name}: ${error.message}\n\n${command.usage}\n`);
    return EXIT.usage;
  }
  if (error instanceof GigaTokApiError) {
    const lines = [`error: ${error.detail || error.title} (${error.code}, HTTP ${error.status})`];
    if (error.field) lines.push(`  field: ${error.field}`);
    for (const e of error.errors) if (e.field !== error.field) lines.push(`  field ${e.field}: ${e.detail}`);
    if (error.retryAfter !== null) lines.push(`  retry after: ${error.retryAfter}s`);
    ctx.stderr.write(`${lines.join('\n')}\n`);
    return EXIT.apiError;
  }
  if (error instanceof GigaTokError) {
    ctx.stderr.write(`error: ${error.message}\n`);
    return EXIT.apiError;
  }
  throw error;
}
