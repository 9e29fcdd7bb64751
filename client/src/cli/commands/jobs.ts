// `gigatok jobs [list]`, `gigatok jobs get <id>`, `gigatok jobs cancel <id>`: the caller's generations.

import type { Generation } from '../../schemas.ts';
import { expectPositionals, GLOBAL_HELP, intFlag, parseCommandArgs, UsageError } from '../args.ts';
import { type Command, makeClient, printJson } from '../context.ts';

export const jobs: Command = {
  name: 'jobs',
  summary: 'list, show or cancel generations',
  usage: `Usage: gigatok jobs [list] [--limit N] [--cursor C] [--all] [--json]
       gigatok jobs get <job_id>
       gigatok jobs cancel <job_id>

list     newest first, one page (--limit, default 20; --cursor to continue) or --all pages
get      print the generation as JSON
cancel   cancel a queued or running generation (a finished one is an error, exit 1)

${GLOBAL_HELP}`,
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs(args, {
      limit: { type: 'string' },
      cursor: { type: 'string' },
      all: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    const [sub = 'list', ...rest] = positionals;
    const client = makeClient(values, ctx);
    const request = { signal: ctx.signal };
    switch (sub) {
      case 'list': {
        expectPositionals(rest, []);
        const limit = intFlag(values.limit, 'limit', 1, 100);
        if (values.all && values.cursor !== undefined)
          throw new UsageError("'--all' and '--cursor' exclude each other");
        let data: Generation[];
        let next: string | null = null;
        if (values.all) {
          data = [];
          for await (const job of client.iterateGenerations({ limit, ...request })) data.push(job);
        } else {
          const page = await client.listGenerations({ limit, cursor: values.cursor, ...request });
          data = page.data;
          next = page.next_cursor;
        }
        if (values.json) {
          printJson(ctx.stdout, { object: 'list', data, next_cursor: next });
        } else {
          printTable(ctx.stdout, data);
          if (next !== null) ctx.stderr.write(`more: gigatok jobs --cursor ${next}\n`);
        }
        return 0;
      }
      case 'get': {
        const [id] = expectPositionals(rest, ['job_id']);
        printJson(ctx.stdout, await client.getGeneration(id!, request));
        return 0;
      }
      case 'cancel': {
        const [id] = expectPositionals(rest, ['job_id']);
        const job = await client.cancelGeneration(id!, request);
        if (values.json) printJson(ctx.stdout, job);
        else ctx.stdout.write(`${job.id} ${job.status}\n`);
        return 0;
      }
      default:
        throw new UsageError(`unknown jobs command ${JSON.stringify(sub)} (list, get, cancel)`);
    }
  },
};

function printTable(out: { write(text: string): unknown }, data: readonly Generation[]): void {
  const rows = [
    ['ID', 'STATUS', 'CREATED', 'IMAGES', 'CLASSES', 'SEED'],
    ...data.map((job) => [
      job.id,
      job.status,
      job.created_at,
      String(job.params.class_ids.length),
      job.params.class_ids.map((c) => c ?? 'none').join(','),
      String(job.params.seed),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows)
    out.write(
      `${row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
}
