// 405 instead of 404 when the path exists under another method (RFC 9110 section 15.5.6: the answer
// carries Allow). Hono has no built-in notion of this, so the registered routes are matched here.
import type { Hono } from 'hono';

interface Compiled {
  pattern: RegExp;
  method: string;
}

function compile(path: string): RegExp {
  const source = path
    .split('/')
    .map((part) =>
      part.startsWith(':') ? '[^/]+' : part === '*' ? '.*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('/');
  return new RegExp(`^${source}/?$`);
}

/** Returns the methods that `path` answers to, from the app's route table; empty when none. */
export function allowedMethods(app: Hono<never>, path: string): string[] {
  const routes: Compiled[] = (app.routes as { method: string; path: string }[])
    .filter((route) => route.method !== 'ALL')
    .map((route) => ({ method: route.method, pattern: compile(route.path) }));
  const methods = new Set<string>();
  for (const route of routes) if (route.pattern.test(path)) methods.add(route.method);
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods].sort();
}
