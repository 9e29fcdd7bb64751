// A request's `webhook` field (generations and datasets alike) as it is stored: the URL as the webhook
// URL policy (checkWebhookUrl) accepts it, and the subscribed events, all of them when none are named.
import { checkWebhookUrl } from '@gigatok/shared';
import { config } from '../config.ts';

export interface WebhookTarget {
  url: string;
  events: string[];
}

/** The stored webhook of a request; throws invalid_webhook_url (field `webhook.url`) for a refused URL. */
export function acceptWebhook<E extends string>(
  env: Env,
  subscription: { url: string; events?: readonly E[] | undefined } | undefined,
  allEvents: readonly E[],
): WebhookTarget | null {
  if (!subscription) return null;
  return {
    url: checkWebhookUrl(subscription.url, {
      allowInsecureLoopback: config(env).allowInsecureWebhooks,
    }).toString(),
    events: [...(subscription.events ?? allEvents)],
  };
}
