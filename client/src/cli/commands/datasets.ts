// `gigatok dataset create|add|run|get|cancel|download`: token datasets for training pipelines. One
// command can do it all: `gigatok dataset create pets --from folder/ --augment flip --run --wait --out dir/`.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AUGMENTATIONS, type DatasetLabels } from '@gigatok/shared';
import type { GigaTokClient } from '../../client.ts';
import type { Dataset } from '../../datasets.ts';
import { choiceFlag, expectPositionals, GLOBAL_HELP, parseCommandArgs, UsageError } from '../args.ts';
import { type CliContext, type Command, makeClient, printJson } from '../context.ts';
import { extractTar, uploadTars } from '../image-folder.ts';

const USAGE = `Usage:
  gigatok dataset create <name> [--augment none|flip|ten_crop] [--labels FILE.json] [--model ID]
                         [--from FOLDER|FILE.tar] [--run] [--wait] [--out DIR]
  gigatok dataset add <id> <FOLDER|FILE.tar>
  gigatok dataset run <id> [--wait] [--out DIR]
  gigatok dataset get <id>
  gigatok dataset cancel <id>
  gigatok dataset download <id> --out DIR

An ImageFolder is <class>/<file>.(png|jpg|jpeg|webp); a folder is packed into tars of at most the
API's upload size. Labels: the class folders sorted and numbered from 0, or --labels FILE.json with
{"<class>": <int>, ...}. --out DIR writes DIR/<name>.gtok (every row), DIR/manifest.json and the
official layout DIR/<name>_codes/<i>.npy, DIR/<name>_labels/<i>.npy.
  --augment A    none (1 row per image), flip (2: image, mirror), ten_crop (10)
  --run          start tokenizing after the upload
  --wait         wait for the run to finish, with progress on stderr (implies --run for create)

${GLOBAL_HELP}`;

async function upload(client: GigaTokClient, id: string, source: string, ctx: CliContext): Promise<number> {
  let tars: Uint8Array[];
  try {
    tars = await uploadTars(source);
  } catch (error) {
    throw new UsageError(`cannot read ${source}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let total = 0;
  for (const [i, tar] of tars.entries()) {
    const result = await client.datasets.addImages(id, { tar }, { signal: ctx.signal, timeoutMs: 600_000 });
    total = result.images_total;
    ctx.stderr.write(
      `upload ${i + 1}/${tars.length}: +${result.added} (${result.skipped} already there), ${total} images\n`,
    );
  }
  return total;
}

async function waitAndDownload(
  client: GigaTokClient,
  id: string,
  out: string | undefined,
  ctx: CliContext,
): Promise<number> {
  let last = -1;
  const dataset = await client.datasets.wait(id, {
    signal: ctx.signal,
    onProgress: (d) => {
      if (d.progress.images_done !== last) {
        last = d.progress.images_done;
        ctx.stderr.write(`${d.status} ${d.progress.images_done}/${d.progress.images_total}\n`);
      }
    },
  });
  if (dataset.status !== 'completed') {
    ctx.stderr.write(`dataset ${id} ${dataset.status}${dataset.error ? `: ${dataset.error.detail}` : ''}\n`);
    return 1;
  }
  if (out !== undefined) await download(client, dataset, out, ctx);
  printJson(ctx.stdout, dataset);
  return 0;
}

async function download(
  client: GigaTokClient,
  dataset: Dataset,
  out: string,
  ctx: CliContext,
): Promise<void> {
  await mkdir(out, { recursive: true });
  const codes = await client.datasets.download(dataset.id, 'codes', { signal: ctx.signal });
  await writeFile(join(out, `${dataset.name}.gtok`), codes.bytes);
  const manifest = await client.datasets.download(dataset.id, 'manifest', { signal: ctx.signal });
  await writeFile(join(out, 'manifest.json'), manifest.bytes);
  const tar = await client.datasets.download(dataset.id, 'tar', { signal: ctx.signal });
  const files = await extractTar(tar.bytes, out);
  ctx.stderr.write(`wrote ${out}: ${dataset.name}.gtok, manifest.json, ${files} .npy files\n`);
}

async function readLabels(path: string | undefined): Promise<DatasetLabels | undefined> {
  if (path === undefined) return undefined;
  try {
    return { mapping: JSON.parse(await readFile(path, 'utf8')) as Record<string, number> };
  } catch (error) {
    throw new UsageError(`--labels ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export const dataset: Command = {
  name: 'dataset',
  summary: 'token datasets for training: create, add an ImageFolder, run, download codes and labels',
  usage: USAGE,
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs(args, {
      augment: { type: 'string' },
      labels: { type: 'string' },
      model: { type: 'string' },
      from: { type: 'string' },
      run: { type: 'boolean' },
      wait: { type: 'boolean' },
      out: { type: 'string', short: 'o' },
    });
    const [action, ...rest] = positionals;
    const client = () => makeClient(values, ctx);
    switch (action) {
      case 'create': {
        const [name] = expectPositionals(rest, ['name']);
        const augmentation = choiceFlag(values.augment, 'augment', AUGMENTATIONS);
        const api = client();
        const created = await api.datasets.create(
          { name: name!, augmentation, model: values.model, labels: await readLabels(values.labels) },
          { signal: ctx.signal },
        );
        ctx.stderr.write(`created ${created.id}\n`);
        if (values.from !== undefined) await upload(api, created.id, values.from, ctx);
        if (!(values.run || values.wait)) {
          printJson(ctx.stdout, await api.datasets.get(created.id, { signal: ctx.signal }));
          return 0;
        }
        await api.datasets.run(created.id, { signal: ctx.signal });
        if (!values.wait) {
          printJson(ctx.stdout, await api.datasets.get(created.id, { signal: ctx.signal }));
          return 0;
        }
        return waitAndDownload(api, created.id, values.out, ctx);
      }
      case 'add': {
        const [id, source] = expectPositionals(rest, ['id', 'folder-or-tar']);
        await upload(client(), id!, source!, ctx);
        return 0;
      }
      case 'run': {
        const [id] = expectPositionals(rest, ['id']);
        const api = client();
        const started = await api.datasets.run(id!, { signal: ctx.signal });
        if (!values.wait) {
          printJson(ctx.stdout, started);
          return 0;
        }
        return waitAndDownload(api, id!, values.out, ctx);
      }
      case 'get':
      case 'cancel': {
        const [id] = expectPositionals(rest, ['id']);
        const api = client();
        printJson(
          ctx.stdout,
          action === 'get'
            ? await api.datasets.get(id!, { signal: ctx.signal })
            : await api.datasets.cancel(id!, { signal: ctx.signal }),
        );
        return 0;
      }
      case 'download': {
        const [id] = expectPositionals(rest, ['id']);
        if (values.out === undefined) throw new UsageError("'--out' is required");
        const api = client();
        await download(api, await api.datasets.get(id!, { signal: ctx.signal }), values.out, ctx);
        return 0;
      }
      default:
        throw new UsageError(
          action === undefined
            ? 'missing <action>'
            : `unknown action ${JSON.stringify(action)}: create, add, run, get, cancel or download`,
        );
    }
  },
};
