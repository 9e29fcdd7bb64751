// `gigatok models`: the models the API serves, with their sizes and sampling defaults.

import { expectPositionals, GLOBAL_HELP, parseCommandArgs } from '../args.ts';
import { type Command, makeClient, printJson } from '../context.ts';

export const models: Command = {
  name: 'models',
  summary: 'list the models the API serves',
  usage: `Usage: gigatok models [--json]

${GLOBAL_HELP}`,
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs(args, { json: { type: 'boolean' } });
    expectPositionals(positionals, []);
    const list = await makeClient(values, ctx).models({ signal: ctx.signal });
    if (values.json) {
      printJson(ctx.stdout, list);
      return 0;
    }
    for (const m of list) {
      ctx.stdout.write(
        `${m.id}  ${m.image_size}px  ${m.tokens_per_image} tokens  codebook ${m.codebook_size}  ${m.num_classes} classes\n`,
      );
    }
    return 0;
  },
};
