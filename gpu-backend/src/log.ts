// Structured logging: one JSON object per line on stderr (what container log collectors expect).
type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

function initialLevel(): Level {
  const raw = process.env.GIGATOK_LOG_LEVEL;
  return raw !== undefined && raw in order ? (raw as Level) : 'info';
}

let threshold = order[initialLevel()];

export function setLogLevel(level: Level): void {
  threshold = order[level];
}

function write(level: Exclude<Level, 'silent'>, msg: string, fields?: Record<string, unknown>): void {
  if (order[level] < threshold) return;
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields });
  process.stderr.write(`${line}\n`);
}

export const logger = {
  debug: (msg: string, fields?: Record<string, unknown>) => write('debug', msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => write('info', msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => write('warn', msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => write('error', msg, fields),
};

export type LogLevel = Level;
