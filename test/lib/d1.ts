// Reads the local D1 database of a running `wrangler dev` (webhook attempts have no public route), with
// `wrangler d1 execute --local` on the same persistence directory. Read-only queries only.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../scripts/local-stack.ts';

const run = promisify(execFile);

export async function queryD1<Row>(stateDir: string, sql: string): Promise<Row[]> {
  if (!/^\s*select\b/i.test(sql)) throw new Error('queryD1 runs SELECT statements only');
  const { stdout } = await run(
    path.join(repoRoot, 'node_modules', '.bin', 'wrangler'),
    ['d1', 'execute', 'DB', '--local', '--persist-to', stateDir, '--json', '--command', sql],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        CLOUDFLARE_CF_FETCH_ENABLED: 'false',
        WRANGLER_SEND_METRICS: 'false',
        CI: 'true',
      },
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  const parsed = JSON.parse(stdout) as { results: Row[]; success: boolean }[];
  if (!parsed[0]?.success) throw new Error(`D1 query failed: ${stdout.slice(0, 500)}`);
  return parsed[0].results;
}
