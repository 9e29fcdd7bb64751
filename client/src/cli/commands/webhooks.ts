// `gigatok webhooks deliveries|redeliver <id>|rotate-secret|secret`: the caller's webhook delivery
// log, sending a delivery again, and the signing secret.

import { WEBHOOK_DELIVERY_STATUSES, WEBHOOK_EVENT_TYPES } from '@gigatok/shared';
import type { WebhookDelivery } from '../../schemas.ts';
import {
  choiceFlag,
  expectPositionals,
  GLOBAL_HELP,
  intFlag,
  parseCommandArgs,
  UsageError,
} from '../args.ts';
import { type Command, makeClient, type OutputStream, printJson } from '../context.ts';

export const webhooks: Command = {
  name: 'webhooks',
  summary: 'webhook deliveries, redelivery and the signing secret',
  usage: `Usage: gigatok webhooks deliveries [--job job_…] [--event E] [--status S] [--limit N] [--cursor C] [--all] [--json]
       gigatok webhooks redeliver <msg_id> [--json]
       gigatok webhooks rotate-secret [--json]
       gigatok webhooks secret

deliveries     newest first with each attempt (time, HTTP status or error); one page (--limit,
               default 20; --cursor to continue) or --all pages
  --event E    ${WEBHOOK_EVENT_TYPES.join(', ')}
  --status S   ${WEBHOOK_DELIVERY_STATUSES.join(', ')}
redeliver      send a delivery again now (same webhook-id, fresh signature); exit 1 when the
               receiver did not answer 2xx
rotate-secret  a new signing secret, printed once on stdout; the previous one keeps signing
               until the time printed on stderr
secret         print the current signing secret

${GLOBAL_HELP}`,
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs(args, {
      job: { type: 'string' },
      event: { type: 'string' },
      status: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      all: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    const [sub, ...rest] = positionals;
    const client = makeClient(values, ctx);
    const request = { signal: ctx.signal };
    switch (sub) {
      case 'deliveries': {
        expectPositionals(rest, []);
        const filters = {
          jobId: values.job,
          event: choiceFlag(values.event, 'event', WEBHOOK_EVENT_TYPES),
          status: choiceFlag(values.status, 'status', WEBHOOK_DELIVERY_STATUSES),
          limit: intFlag(values.limit, 'limit', 1, 100),
        };
        if (values.all && values.cursor !== undefined)
          throw new UsageError("'--all' and '--cursor' exclude each other");
        let data: WebhookDelivery[];
        let next: string | null = null;
        if (values.all) {
          data = [];
          for await (const d of client.iterateWebhookDeliveries({ ...filters, ...request })) data.push(d);
        } else {
          const page = await client.listWebhookDeliveries({ ...filters, cursor: values.cursor, ...request });
          data = page.data;
          next = page.next_cursor;
        }
        if (values.json) {
          printJson(ctx.stdout, { object: 'list', data, next_cursor: next });
        } else {
          printDeliveries(ctx.stdout, data);
          if (next !== null) ctx.stderr.write(`more: gigatok webhooks deliveries --cursor ${next}\n`);
        }
        return 0;
      }
      case 'redeliver': {
        const [id] = expectPositionals(rest, ['msg_id']);
        const delivery = await client.redeliverWebhook(id!, request);
        const last = delivery.attempts.at(-1);
        if (values.json) printJson(ctx.stdout, delivery);
        else ctx.stdout.write(`${delivery.id} ${last ? outcome(last) : 'not sent'} (${delivery.status})\n`);
        const delivered = typeof last?.status_code === 'number' && last.status_code < 300;
        return delivered ? 0 : 1;
      }
      case 'rotate-secret': {
        expectPositionals(rest, []);
        const rotation = await client.rotateWebhookSecret(request);
        if (values.json) {
          printJson(ctx.stdout, rotation);
        } else {
          ctx.stdout.write(`${rotation.secret}\n`);
          ctx.stderr.write(
            rotation.previous_secret_expires_at === null
              ? 'the previous secret no longer signs deliveries\n'
              : `the previous secret also signs deliveries until ${rotation.previous_secret_expires_at}\n`,
          );
        }
        return 0;
      }
      case 'secret': {
        expectPositionals(rest, []);
        ctx.stdout.write(`${(await client.getWebhookSecret(request)).secret}\n`);
        return 0;
      }
      default:
        throw new UsageError(
          sub === undefined
            ? 'missing webhooks command (deliveries, redeliver, rotate-secret, secret)'
            : `unknown webhooks command ${JSON.stringify(sub)} (deliveries, redeliver, rotate-secret, secret)`,
        );
    }
  },
};

function outcome(attempt: WebhookDelivery['attempts'][number]): string {
  return attempt.status_code !== null ? `HTTP ${attempt.status_code}` : (attempt.error ?? 'no response');
}

/** One line per delivery, then one indented line per attempt. */
function printDeliveries(out: OutputStream, data: readonly WebhookDelivery[]): void {
  for (const d of data) {
    const next = d.next_attempt_at ? `  next ${d.next_attempt_at}` : '';
    out.write(
      `${d.id}  ${d.status.padEnd(9)}  ${d.event.padEnd(20)}  ${d.job_id ?? d.dataset_id}  ${d.created_at}${next}\n`,
    );
    for (const a of d.attempts) {
      out.write(`  ${a.at}  ${a.manual ? 'manual' : 'queue '}  ${outcome(a)}  ${a.duration_ms} ms\n`);
    }
  }
}
