// Entry point of `npm start -w gpu-backend`: configuration from the environment, then the server;
// SIGTERM/SIGINT stop accepting, let in-flight requests finish, and exit.
import { type Config, ConfigError, loadConfig } from './config.ts';
import { logger } from './log.ts';
import { startServer } from './server.ts';

/** Entry point for `npm start -w gpu-backend`. */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const running = await startServer(config);
  running.loaded.catch(() => process.exit(1));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info('shutting down', { signal });
      running.close().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error('shutdown failed', { error: String(error) });
          process.exit(1);
        },
      );
    });
  }
}

void main();
