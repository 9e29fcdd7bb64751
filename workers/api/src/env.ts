// The Worker's binding types (generated Env plus the secrets wrangler cannot see) and the typed
// variables that middleware hands to route handlers.
import type { ServerTiming } from './lib/http/server-timing.ts';

declare global {
  namespace Cloudflare {
    interface Env {
      /** Shared with the GPU backend; signs every backend request (shared/src/backend-auth.ts). */
      BACKEND_SECRET: string;
      /** Enables POST /v1/admin/keys when set; absent in production unless keys are minted there. */
      ADMIN_TOKEN?: string;
      /** Optional var: comma-separated seconds between webhook attempts (default 5,30,120,600,1800,3600,7200). */
      WEBHOOK_RETRY_DELAYS?: string;
      /**
       * Optional var: JSON {"pools":[{"urls":[...],"models"?:[...]}]} of the backends serving each model;
       * replaces BACKEND_URL when set (shared/src/api/backend-pools.ts).
       */
      BACKEND_POOLS?: string;
    }
  }
}

/** Who is calling: set by the auth middleware on every authenticated route. */
export interface Caller {
  tenantId: string;
  keyId: string;
}

export type AppEnv = {
  Bindings: Env;
  Variables: { caller: Caller; timing: ServerTiming };
};
