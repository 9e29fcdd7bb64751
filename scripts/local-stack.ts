// The whole stack on one machine: the GPU backend on CPU with the embedded default model (or several
// backends, in one pool through BACKEND_POOLS) and the Worker under `wrangler dev --local` (local R2, D1
// with migrations applied, Queues), wired with a freshly generated shared secret. Used by `npm start`
// and by the end-to-end suites in test/.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  type WriteStream,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name: string) => path.join(repoRoot, 'node_modules', '.bin', name);

export const DEFAULT_MODEL_DIR = path.join(repoRoot, 'models', 'gigatok-nano');
/** The backend's random-weight test model: what the stack falls back to while no default model exists. */
export const FALLBACK_MODEL_DIR = path.join(repoRoot, 'gpu-backend', 'test', 'fixtures', 'tiny-random');

/**
 * The model directories the stack serves: the ones asked for, else the embedded default model. Until
 * the default model has been trained and committed (models/gigatok-nano), the stack runs on the
 * tiny random-weight fixture and says so loudly: the plumbing works, the pictures are noise.
 */
export function resolveModelDirs(requested?: string[]): {
  dirs: string[];
  modelId: string;
  fallback: boolean;
} {
  const dirs = requested?.length ? requested.map((d) => path.resolve(repoRoot, d)) : [DEFAULT_MODEL_DIR];
  const fallback = !requested?.length && !existsSync(path.join(DEFAULT_MODEL_DIR, 'manifest.json'));
  const chosen = fallback ? [FALLBACK_MODEL_DIR] : dirs;
  const manifest = JSON.parse(readFileSync(path.join(chosen[0]!, 'manifest.json'), 'utf8')) as {
    model_id: string;
  };
  return { dirs: chosen, modelId: manifest.model_id, fallback };
}

/** One GPU backend process of a stack with several (StackOptions.backends). */
export interface BackendSpec {
  /** Its model directories (default: the stack's `modelDirs`). */
  modelDirs?: string[];
  /** Its port (0 or absent picks a free one). */
  port?: number;
  /** Extra environment for this process, over the stack's `backendEnv`. */
  env?: Record<string, string>;
  /** Where the Worker calls it, e.g. a proxy in front of it (default: its own URL). */
  workerUrl?: string;
}

export interface StackOptions {
  /** Port of the Worker (0 picks a free one). */
  apiPort?: number;
  /** Port of the GPU backend (0 picks a free one); with `backends`, the first one's default. */
  backendPort?: number;
  /** Model directories for the backend (default: the backend's own default, models/gigatok-nano). */
  modelDirs?: string[];
  /**
   * Several GPU backends (default: one). With more than one, the Worker gets BACKEND_POOLS listing
   * every backend in one pool, each serving what it lists on GET /v1/models.
   */
  backends?: BackendSpec[];
  /** Where wrangler keeps local R2/D1/Queues state. */
  stateDir?: string;
  /** Extra environment for the backend process (e.g. batching settings). */
  backendEnv?: Record<string, string>;
  /** Extra Worker vars, passed as `--var NAME:VALUE` (e.g. shorter deadlines or retry delays for tests). */
  workerVars?: Record<string, string>;
  /** Also append every line of both children's output to this file (the in-memory log keeps 400 lines). */
  logFile?: string;
  /** Forward child output to this process's stderr (default: only on failure). */
  verbose?: boolean;
  /** How long to wait for both servers to become ready. */
  readyTimeoutMs?: number;
}

export interface Stack {
  apiUrl: string;
  /** The first backend's URL. */
  backendUrl: string;
  /** Every backend's own URL, in the order of StackOptions.backends. */
  backendUrls: string[];
  backendSecret: string;
  adminToken: string;
  /** Mints an API key for a new tenant through the Worker's admin route. */
  createKey(tenantName?: string): Promise<{ key: string; tenantId: string; keyId: string }>;
  /** Stops backend `index` (default the first) only (fault tests); `restartBackend` brings it back on the same port. */
  stopBackend(signal?: NodeJS.Signals, index?: number): Promise<void>;
  restartBackend(index?: number): Promise<void>;
  /** A new Worker process on the same port and state: a fresh isolate with empty in-memory caches. */
  restartWorker(): Promise<void>;
  /** Stops both processes and waits for them to exit. */
  stop(): Promise<void>;
  /** Recent output of the children, for failure messages. */
  logs(): string;
}

/** Returns a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

class ProcessLog {
  private lines: string[] = [];
  constructor(
    private readonly name: string,
    private readonly verbose: boolean,
    private readonly file?: WriteStream,
  ) {}
  attach(child: ChildProcess): void {
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        this.lines.push(`[${this.name}] ${line}`);
        if (this.lines.length > 400) this.lines.shift();
        if (this.verbose) process.stderr.write(`[${this.name}] ${line}\n`);
        this.file?.write(`[${this.name}] ${line}\n`);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
  }
  text(): string {
    return this.lines.join('\n');
  }
}

async function waitFor(url: string, ok: (res: Response) => boolean, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (ok(res)) return;
      last = `HTTP ${res.status}`;
      await res.body?.cancel();
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not become ready at ${url} within ${timeoutMs} ms (last: ${last})`);
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals, graceMs = 10_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited(child);
  clearTimeout(timer);
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, log: ProcessLog): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    log.attach(child);
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${path.basename(cmd)} ${args.join(' ')} exited ${code}`)),
    );
  });
}

const wranglerEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  // No outside network here, and no telemetry.
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  WRANGLER_SEND_METRICS: 'false',
  CI: process.env.CI ?? 'true',
});

/** Starts the backend and the Worker, applies migrations, and returns when both answer. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const verbose = options.verbose ?? false;
  const specs = options.backends?.length ? options.backends : [{}];
  const backendPorts: number[] = [];
  for (const [i, spec] of specs.entries()) {
    backendPorts.push(spec.port || (i === 0 ? options.backendPort : 0) || (await freePort()));
  }
  const apiPort = options.apiPort || (await freePort());
  const stateDir = path.resolve(options.stateDir ?? path.join(repoRoot, '.local', 'wrangler'));
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  mkdirSync(stateDir, { recursive: true });

  const backendSecret = randomBytes(32).toString('base64url');
  const adminToken = randomBytes(32).toString('base64url');
  const backendUrls = backendPorts.map((port) => `http://127.0.0.1:${port}`);
  const backendUrl = backendUrls[0]!;
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const logFile = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : undefined;
  const backendLogs = specs.map(
    (_, i) => new ProcessLog(specs.length === 1 ? 'backend' : `backend-${i}`, verbose, logFile),
  );
  const workerLog = new ProcessLog('worker', verbose, logFile);
  const logs = () => `${backendLogs.map((log) => log.text()).join('\n')}\n${workerLog.text()}`;
  const models = resolveModelDirs(options.modelDirs);
  const backendDirs = specs.map((spec) =>
    spec.modelDirs?.length ? spec.modelDirs.map((d) => path.resolve(repoRoot, d)) : models.dirs,
  );
  // One backend: BACKEND_URL as always. Several: one pool of all, each serving what it lists.
  const backendVar =
    specs.length === 1 && !specs[0]!.workerUrl
      ? `BACKEND_URL:${backendUrl}`
      : `BACKEND_POOLS:${JSON.stringify({ pools: [{ urls: specs.map((spec, i) => spec.workerUrl ?? backendUrls[i]!) }] })}`;
  if (models.fallback) {
    process.stderr.write(
      `[stack] WARNING: ${path.relative(repoRoot, DEFAULT_MODEL_DIR)} does not exist yet; serving the random-weight ` +
        `test model '${models.modelId}' instead (images will be noise)\n`,
    );
  }

  const backends: (ChildProcess | undefined)[] = specs.map(() => undefined);
  let worker: ChildProcess | undefined;

  const startBackend = (index: number) => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(backendPorts[index]),
      HOST: '127.0.0.1',
      GIGATOK_DEVICE: 'cpu',
      GIGATOK_BACKEND_SECRET: backendSecret,
      GIGATOK_MODEL_DIRS: backendDirs[index]!.join(','),
      ...options.backendEnv,
      ...specs[index]!.env,
    };
    const child = spawn(process.execPath, ['--import', 'tsx', 'gpu-backend/src/main.ts'], {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    backendLogs[index]!.attach(child);
    backends[index] = child;
  };
  const backendReady = (index: number) =>
    waitFor(`${backendUrls[index]}/readyz`, (r) => r.status === 200, readyTimeoutMs, `GPU backend ${index}`);

  const startWorker = async () => {
    worker = spawn(
      bin('wrangler'),
      [
        'dev',
        '--local',
        '--ip',
        '127.0.0.1',
        '--port',
        String(apiPort),
        '--inspector-port',
        String(await freePort()),
        '--persist-to',
        stateDir,
        '--show-interactive-dev-session=false',
        '--var',
        backendVar,
        '--var',
        `BACKEND_SECRET:${backendSecret}`,
        '--var',
        `ADMIN_TOKEN:${adminToken}`,
        '--var',
        'ALLOW_INSECURE_WEBHOOKS:1',
        '--var',
        `DEFAULT_MODEL:${models.modelId}`,
        ...Object.entries(options.workerVars ?? {}).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
      ],
      { cwd: repoRoot, env: wranglerEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    workerLog.attach(worker);
  };

  const stop = async () => {
    // wrangler wants SIGINT to tear down workerd; the backend drains on SIGTERM.
    await Promise.all([stopChild(worker, 'SIGINT'), ...backends.map((child) => stopChild(child, 'SIGTERM'))]);
    await new Promise<void>((resolve) => (logFile ? logFile.end(resolve) : resolve()));
  };

  try {
    for (let i = 0; i < specs.length; i++) startBackend(i);
    await run(
      bin('wrangler'),
      ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', stateDir],
      wranglerEnv(),
      workerLog,
    );
    await startWorker();
    // Fail fast when either process dies during start-up instead of waiting out the timeout.
    const died = (child: ChildProcess, what: string) =>
      exited(child).then(() => {
        throw new Error(`${what} exited during start-up (code ${child.exitCode ?? child.signalCode})`);
      });
    await Promise.race([
      Promise.all([
        ...specs.map((_, i) => backendReady(i)),
        waitFor(`${apiUrl}/v1/healthz`, (r) => r.status < 500, readyTimeoutMs, 'the Worker'),
      ]),
      ...backends.map((child, i) => died(child!, `GPU backend ${i}`)),
      died(worker!, 'the Worker (wrangler dev)'),
    ]);
  } catch (error) {
    await stop();
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- logs ---\n${logs()}`);
  }

  return {
    apiUrl,
    backendUrl,
    backendUrls,
    backendSecret,
    adminToken,
    logs,
    stop,
    async createKey(tenantName = 'local-dev') {
      const res = await fetch(`${apiUrl}/v1/admin/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ tenant_name: tenantName, name: `${tenantName} key` }),
      });
      if (res.status !== 201 && res.status !== 200) {
        throw new Error(`creating an API key failed: HTTP ${res.status} ${await res.text()}`);
      }
      const body = (await res.json()) as { key: string; tenant_id: string; id: string };
      return { key: body.key, tenantId: body.tenant_id, keyId: body.id };
    },
    async stopBackend(signal: NodeJS.Signals = 'SIGKILL', index = 0) {
      await stopChild(backends[index], signal);
    },
    async restartBackend(index = 0) {
      await stopChild(backends[index], 'SIGTERM');
      startBackend(index);
      await backendReady(index);
    },
    async restartWorker() {
      await stopChild(worker, 'SIGINT');
      await startWorker();
      await waitFor(`${apiUrl}/v1/healthz`, (r) => r.status < 500, readyTimeoutMs, 'the Worker');
    },
  };
}

/** `npm start`: run the stack until Ctrl-C, printing the URLs and a local development API key. */
export async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help')) {
    process.stdout.write(
      'usage: npm start [-- --verbose]\n' +
        'env: GIGATOK_API_PORT (8787), GIGATOK_BACKEND_PORT (8790), GIGATOK_MODEL_DIRS,\n' +
        '     GIGATOK_BACKENDS (1: how many GPU backend processes, on consecutive ports, one pool),\n' +
        '     GIGATOK_READY_TIMEOUT_MS (600000: loading and warming up a full-size model on CPU takes minutes)\n',
    );
    return;
  }
  const verbose = argv.includes('--verbose');
  const count = Number(process.env.GIGATOK_BACKENDS ?? 1);
  if (!Number.isSafeInteger(count) || count < 1 || count > 8) {
    throw new Error(
      `GIGATOK_BACKENDS must be an integer in [1, 8], got ${JSON.stringify(process.env.GIGATOK_BACKENDS)}`,
    );
  }
  const backendPort = Number(process.env.GIGATOK_BACKEND_PORT ?? 8790);
  process.stderr.write(
    `[start] starting ${count === 1 ? 'the GPU backend' : `${count} GPU backends`} (CPU) and the Worker (wrangler dev --local) ...\n`,
  );
  const stack = await startStack({
    apiPort: Number(process.env.GIGATOK_API_PORT ?? 8787),
    backendPort,
    ...(count > 1 ? { backends: Array.from({ length: count }, (_, i) => ({ port: backendPort + i })) } : {}),
    ...(process.env.GIGATOK_MODEL_DIRS ? { modelDirs: process.env.GIGATOK_MODEL_DIRS.split(',') } : {}),
    // The backend answers /readyz once every model is loaded and warmed up: seconds for gigatok-nano, about
    // a minute for S-S + GPT-B on 2 CPU cores, longer for the larger pairs.
    readyTimeoutMs: Number(process.env.GIGATOK_READY_TIMEOUT_MS ?? 600_000),
    verbose,
  });
  const keyFile = path.join(repoRoot, '.local', 'dev-key.json');
  const key = await stack.createKey('local-dev');
  writeFileSync(keyFile, `${JSON.stringify({ api_url: stack.apiUrl, ...key }, null, 2)}\n`, { mode: 0o600 });

  process.stdout.write(
    [
      '',
      'GigaTok Edge is running locally.',
      `  API          ${stack.apiUrl}/v1  (OpenAPI: ${stack.apiUrl}/v1/openapi.json)`,
      // The fragment fills in the playground's key field; browsers never send it to the server, and the page
      // accepts it only on loopback hosts (workers/api/README.md).
      `  Playground   ${stack.apiUrl}/#key=${key.key}`,
      ...stack.backendUrls.map((url) => `  GPU backend  ${url}  (metrics: ${url}/metrics)`),
      `  API key      ${key.key}`,
      `               (also in ${path.relative(process.cwd(), keyFile)})`,
      '',
      'Try:',
      `  export GIGATOK_API_URL=${stack.apiUrl} GIGATOK_API_KEY=${key.key}`,
      '  npx gigatok generate --class 7 --count 4 --seed 1 --out out/',
      '',
      'Ctrl-C stops them all.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n[start] ${signal}: stopping the Worker and the backend ...\n`);
    stack.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

/** Reads the key written by the last `npm start`, for tools that want it. */
export function readDevKey(): { api_url: string; key: string } | undefined {
  try {
    return JSON.parse(readFileSync(path.join(repoRoot, '.local', 'dev-key.json'), 'utf8'));
  } catch {
    return undefined;
  }
}
