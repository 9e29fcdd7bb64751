// `gigatok models`: the models the API serves, with their sizes and class names (all of them with
// --classes, the names `gigatok generate --class` takes).

import { expectPositionals, GLOBAL_HELP, parseCommandArgs } from '../args.ts';
import { type Command, makeClient, printJson } from '../context.ts';

export const models: Command = {
  name: 'models',
  summary: 'list the models the API serves',
  usage: `Usage: gigatok models [--classes] [--json]

One line per model: id, image size, tokens, codebook and classes, with the first class names.
  --classes   also list every class of each model: its id and name
  --json      print the models as the API sent them

${GLOBAL_HELP}`,
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs(args, {
      classes: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    expectPositionals(positionals, []);
    const list = await makeClient(values, ctx).models({ signal: ctx.signal });
    if (values.json) {
      printJson(ctx.stdout, list);
      return 0;
    }
    for (const m of list) {
      ctx.stdout.write(
        `${m.id}  ${m.image_size}px  ${m.tokens_per_image} tokens  codebook ${m.codebook_size}  ${m.num_classes} classes: ${classPreview(m.class_labels, values.classes === true)}\n`,
      );
      if (values.classes) {
        const width = String(m.class_labels.length - 1).length;
        for (const [id, label] of m.class_labels.entries()) {
          ctx.stdout.write(`  ${String(id).padStart(width)}  ${label}\n`);
        }
      }
    }
    return 0;
  },
};

const PREVIEW = 5;

function classPreview(labels: readonly string[], listed: boolean): string {
  const shown = labels.slice(0, PREVIEW).join(', ');
  if (labels.length <= PREVIEW) return shown;
  return `${shown}, ...${listed ? '' : ' (--classes lists them)'}`;
}
