// `gigatok generate`: submit a class-conditional generation, follow it on stderr until it ends, then
// download its images. Ctrl-C cancels the job on the server.

import { join } from 'node:path';
import { LIMITS } from '@gigatok/shared';
import { extensionFor } from '../../images.ts';
import type { CreateGenerationParams, Generation } from '../../schemas.ts';
import {
  choiceFlag,
  expectPositionals,
  GLOBAL_HELP,
  intFlag,
  numberFlag,
  parseCommandArgs,
  UsageError,
} from '../args.ts';
import { type CliContext, type Command, makeClient, printJson } from '../context.ts';
import { writeOutput } from '../files.ts';
import { Progress } from '../progress.ts';

export const generate: Command = {
  name: 'generate',
  summary: 'generate images of a class and download them',
  usage: `Usage: gigatok generate --class 207 [--count 4] [--seed 1] [sampling options] [--out dir/]
       gigatok generate --class "golden retriever" ...

Submits a generation, follows its event stream (GET /v1/generations/{id}/events; polling every
--poll-ms if the stream fails) with one progress line per state on stderr, always (a spinner is added
when stderr is a terminal), and, with --out, downloads the images as <dir>/<job id>-<index>.<png|webp>.
Prints one line per image on stdout (or the job as JSON).
  --class C        class id, or class name as \`gigatok models --classes\` lists it (any case),
                   "none" for unconditional, or one per image, comma-separated: 1,tench,none
  --count N        images, 1..16 (default 1; implied by a class list)
  --seed S         uint32 seed (default: drawn by the server, and printed)
  --cfg X          classifier-free guidance scale, 0..20
  --schedule S     constant or step (GigaTok's step schedule)
  --temperature T  (0, 5]
  --top-k K        0 = off
  --top-p P        (0, 1], 1 = off
  --model ID       model id (default: the API's default model)
  --format F       png or webp (default png)
  --out DIR        download the images into DIR
  --timeout S      stop waiting after S seconds (default 600; the job keeps running)
  --json           print the finished job as JSON
Exit status: 0 succeeded, 1 failed, canceled or an API error, 2 usage error, 130 interrupted.

${GLOBAL_HELP}`,
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs(args, {
      class: { type: 'string', short: 'c' },
      count: { type: 'string', short: 'n' },
      seed: { type: 'string' },
      cfg: { type: 'string' },
      schedule: { type: 'string' },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      model: { type: 'string' },
      format: { type: 'string' },
      out: { type: 'string', short: 'o' },
      timeout: { type: 'string' },
      'poll-ms': { type: 'string' },
      json: { type: 'boolean' },
    });
    expectPositionals(positionals, []);
    const params = generationParams(values);
    const timeout = numberFlag(values.timeout, 'timeout', 1, 86_400) ?? 600;
    const pollIntervalMs = intFlag(values['poll-ms'], 'poll-ms', 10, 60_000) ?? 500;
    const client = makeClient(values, ctx);

    const progress = new Progress(ctx.stderr);
    progress.status('submitting');
    // One line per state (a status, once claimed its attempt, while running its images done): the
    // events and the polled snapshots (the submit, the fallback, the end) both report here, and a state
    // is shown once.
    let shown = '';
    let runningAttempt = 1;
    const show = (id: string, status: string, attempt: number, detail: string, done = 0) => {
      const state = `${status}/${attempt}/${done}`;
      if (state === shown) return;
      shown = state;
      progress.event(`${id} ${status}${detail}`);
      progress.status(`${id} ${status}`);
    };
    let job: Generation;
    try {
      job = await client.generate(params, {
        signal: ctx.signal,
        // No Prefer: wait, so every state is shown as it happens.
        wait: 0,
        events: true,
        pollIntervalMs,
        waitTimeoutMs: timeout * 1000,
        onEvent: (event) => {
          if (event.type === 'running') {
            runningAttempt = event.attempt;
            const images = `${event.images} image${event.images === 1 ? '' : 's'}`;
            show(event.id, 'running', event.attempt, ` (attempt ${event.attempt}, ${images})`);
          } else if (event.type === 'progress') {
            const done = `${event.images_done} of ${event.images_total} images done`;
            show(event.id, 'running', runningAttempt, ` (${done})`, event.images_done);
          } else if (event.type === 'queued') {
            show(event.id, 'queued', event.attempts, '');
          }
        },
        onEventsError: (error) => {
          progress.event(
            `event stream unavailable (${(error as Error).message}); polling every ${pollIntervalMs} ms`,
          );
        },
        onProgress: ({ job: snapshot }) => {
          const done = snapshot.status === 'running' ? snapshot.progress.images_done : 0;
          const detail =
            snapshot.status === 'queued'
              ? ` (seed ${snapshot.params.seed})`
              : done > 0
                ? ` (${done} of ${snapshot.progress.images_total} images done)`
                : '';
          show(snapshot.id, snapshot.status, snapshot.attempts, detail, done);
        },
      });
    } finally {
      progress.stop();
    }

    if (job.status !== 'succeeded') {
      const why = job.error ? `: ${job.error.detail}` : '';
      ctx.stderr.write(`error: generation ${job.id} ${job.status}${why}\n`);
      if (values.json) printJson(ctx.stdout, job);
      return 1;
    }
    const written = await downloadImages(job, values.out, ctx, client);
    if (values.json) {
      printJson(ctx.stdout, job);
    } else {
      for (const image of job.result?.images ?? []) {
        const file = written.get(image.index);
        ctx.stdout.write(
          `${image.index} class=${image.class_id ?? 'none'} ${image.token_id} ${image.image_id}${file ? ` ${file}` : ''}\n`,
        );
      }
    }
    return 0;
  },
};

type GenerateValues = ReturnType<typeof parseCommandArgs>['values'] &
  Record<string, string | boolean | undefined>;

function generationParams(values: GenerateValues): CreateGenerationParams {
  const str = (name: string) => values[name] as string | undefined;
  const params: Record<string, unknown> = {};
  const classText = str('class');
  const count = intFlag(str('count'), 'count', 1, 16);
  if (classText !== undefined) {
    const ids = classText.split(',').map((p) => classRef(p.trim()));
    if (ids.length > 1) {
      if (count !== undefined && count !== ids.length) {
        throw new UsageError(`'--count' is ${count} but '--class' lists ${ids.length} classes`);
      }
      params.class_id = ids;
    } else {
      params.class_id = ids[0];
    }
  }
  if (count !== undefined && !Array.isArray(params.class_id)) params.count = count;
  const seed = intFlag(str('seed'), 'seed', 0, 0xffffffff);
  if (seed !== undefined) params.seed = seed;
  const cfg = numberFlag(str('cfg'), 'cfg', 0, 20);
  if (cfg !== undefined) params.cfg_scale = cfg;
  const schedule = choiceFlag(str('schedule'), 'schedule', ['constant', 'step'] as const);
  if (schedule !== undefined) params.cfg_schedule = schedule;
  const temperature = numberFlag(str('temperature'), 'temperature', Number.MIN_VALUE, 5);
  if (temperature !== undefined) params.temperature = temperature;
  const topK = intFlag(str('top-k'), 'top-k', 0, 2 ** 24);
  if (topK !== undefined) params.top_k = topK;
  const topP = numberFlag(str('top-p'), 'top-p', Number.MIN_VALUE, 1);
  if (topP !== undefined) params.top_p = topP;
  const model = str('model');
  if (model !== undefined) params.model = model;
  const format = choiceFlag(str('format'), 'format', ['png', 'webp'] as const);
  if (format !== undefined) params.output = { images: true, format };
  return params as CreateGenerationParams;
}

/** One --class entry: null for "none", an id for a number, else a class name the API resolves. */
function classRef(text: string): number | string | null {
  if (text === 'none' || text === 'null') return null;
  if (/^[-+]?[\d.]+$/.test(text)) return intFlag(text, 'class', 0, LIMITS.maxClassId)!;
  if (text === '')
    throw new UsageError("'--class' must name a class id, a class name or none, got an empty entry");
  return text;
}

async function downloadImages(
  job: Generation,
  dir: string | undefined,
  ctx: CliContext,
  client: ReturnType<typeof makeClient>,
): Promise<Map<number, string>> {
  const written = new Map<number, string>();
  if (dir === undefined) return written;
  for (const image of job.result?.images ?? []) {
    if (!image.image_id) continue;
    const { bytes, contentType } = await client.getImage(image.image_id, { signal: ctx.signal });
    const file = join(dir, `${job.id}-${image.index}.${extensionFor(contentType)}`);
    await writeOutput(file, bytes, ctx);
    written.set(image.index, file);
  }
  ctx.stderr.write(`wrote ${written.size} image(s) to ${dir}\n`);
  return written;
}
