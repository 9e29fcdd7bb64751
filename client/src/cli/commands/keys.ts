// `gigatok keys create|revoke`: mint and revoke API keys through the Worker's admin routes
// (POST /v1/admin/keys, POST /v1/admin/keys/{id}/revoke), which exist only where ADMIN_TOKEN is set:
// the local stack. Authenticated with `Authorization: Bearer $GIGATOK_ADMIN_TOKEN`.

import { API_KEY_ID_RE, API_KEY_RE } from '@gigatok/shared';
import { GigaTokClient } from '../../client.ts';
import { GigaTokResponseError } from '../../errors.ts';
import { bodyText, type HttpResponse } from '../../http.ts';
import { expectPositionals, GLOBAL_HELP, parseCommandArgs, UsageError } from '../args.ts';
import { apiUrl, type Command, printJson } from '../context.ts';

export const keys: Command = {
  name: 'keys',
  summary: 'create or revoke API keys (local stack admin)',
  usage: `Usage: gigatok keys create [--tenant NAME | --tenant-id ten_…] [--name LABEL] [--json]
       gigatok keys revoke <key_id>

create   mints a key; prints the secret (gtk_live_…) on stdout, its id and tenant on stderr.
         Without --tenant-id a new tenant is created (named NAME, default "default").
revoke   revokes a key by id (key_…)
  --admin-token T   the Worker's ADMIN_TOKEN (env GIGATOK_ADMIN_TOKEN)

${GLOBAL_HELP}`,
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs(args, {
      tenant: { type: 'string' },
      'tenant-id': { type: 'string' },
      name: { type: 'string' },
      'admin-token': { type: 'string' },
      json: { type: 'boolean' },
    });
    const [sub, ...rest] = positionals;
    const token = values['admin-token'] ?? ctx.env.GIGATOK_ADMIN_TOKEN;
    if (!token) throw new UsageError('no admin token: set GIGATOK_ADMIN_TOKEN or pass --admin-token');
    // The admin routes take the same Bearer scheme as API keys, with the admin token instead.
    const client = new GigaTokClient({ baseUrl: apiUrl(values, ctx), apiKey: token });
    switch (sub) {
      case 'create': {
        expectPositionals(rest, []);
        if (values.tenant !== undefined && values['tenant-id'] !== undefined) {
          throw new UsageError("'--tenant' and '--tenant-id' exclude each other");
        }
        const body = { tenant_name: values.tenant, tenant_id: values['tenant-id'], name: values.name };
        const response = await client.request({
          method: 'POST',
          path: '/v1/admin/keys',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          // Minting is not idempotent: a lost reply must not mint a second key.
          retry: 'refused-only',
          signal: ctx.signal,
        });
        const created = readCreatedKey(response);
        if (values.json) {
          printJson(ctx.stdout, created);
        } else {
          ctx.stdout.write(`${created.key}\n`);
          ctx.stderr.write(`created ${created.id} for tenant ${created.tenant_id}\n`);
        }
        return 0;
      }
      case 'revoke': {
        const [id] = expectPositionals(rest, ['key_id']);
        await client.request({
          method: 'POST',
          path: `/v1/admin/keys/${encodeURIComponent(id!)}/revoke`,
          retry: 'refused-only',
          signal: ctx.signal,
        });
        ctx.stdout.write(`${id} revoked\n`);
        return 0;
      }
      default:
        throw new UsageError(
          sub === undefined
            ? 'missing keys command (create, revoke)'
            : `unknown keys command ${JSON.stringify(sub)}`,
        );
    }
  },
};

interface CreatedKey {
  object: 'api_key';
  id: string;
  key: string;
  tenant_id: string;
}

/** The admin route's reply (workers/api/src/routes/admin.ts), checked before the secret is printed. */
function readCreatedKey(response: HttpResponse): CreatedKey {
  let value: Partial<CreatedKey> | undefined;
  try {
    value = JSON.parse(bodyText(response));
  } catch {
    value = undefined;
  }
  if (
    typeof value?.key !== 'string' ||
    !API_KEY_RE.test(value.key) ||
    typeof value.id !== 'string' ||
    !API_KEY_ID_RE.test(value.id) ||
    typeof value.tenant_id !== 'string'
  ) {
    throw new GigaTokResponseError(`POST ${response.url}: the reply is not a created API key`, {
      status: response.status,
      method: response.method,
      url: response.url,
    });
  }
  return { object: 'api_key', id: value.id, key: value.key, tenant_id: value.tenant_id };
}
