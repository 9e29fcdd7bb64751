// Bindings that exist only in tests (vitest.config.ts adds them).
declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import('cloudflare:test').D1Migration[];
  }
}

// Vite's `?raw` imports (a file's text as a string): class-labels.test.ts reads the exporter's label list.
declare module '*?raw' {
  const text: string;
  export default text;
}
