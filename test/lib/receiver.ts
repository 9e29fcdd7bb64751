// A webhook receiver on loopback that records every delivery and verifies its Standard Webhooks
// signature with the shared verifier, the way a user's endpoint would.
import { createServer, type Server } from 'node:http';
import { verifyWebhook } from '@gigatok/shared';

export interface Delivery {
  headers: Record<string, string>;
  body: string;
  verified: boolean;
  error?: string;
  /** Arrival time (ms since the epoch), to measure retry delays. */
  at: number;
}

export interface Receiver {
  url: string;
  deliveries: Delivery[];
  /** Status code to answer with (default 204); set to 500 to simulate a failing endpoint. */
  status: number;
  /** Extra response headers (a Location for a redirect). */
  answerHeaders: Record<string, string>;
  secrets: string[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const receiver: Receiver = {
    url: '',
    deliveries: [],
    status: 204,
    answerHeaders: {},
    secrets: [],
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      const delivery: Delivery = { headers, body, verified: false, at: Date.now() };
      try {
        await verifyWebhook({ secrets: receiver.secrets, headers, body });
        delivery.verified = true;
      } catch (error) {
        delivery.error = error instanceof Error ? error.message : String(error);
      }
      receiver.deliveries.push(delivery);
      res.statusCode = receiver.status;
      for (const [name, value] of Object.entries(receiver.answerHeaders)) res.setHeader(name, value);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  receiver.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
  receiver.close = () => new Promise((resolve) => server.close(() => resolve()));
  return receiver;
}
