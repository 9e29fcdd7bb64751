// Canonical JSON for content ids: one string per value, so equal requests hash equal whatever their key order.
// Keys sorted by UTF-16 code units (as RFC 8785 JCS sorts), no whitespace, numbers as ECMAScript writes them.

/** A value canonicalJSON accepts (undefined only as an object member, where it is omitted). */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue | undefined };

/**
 * Serialises `value` canonically. Throws a TypeError for what JSON cannot carry faithfully: NaN, Infinity,
 * undefined inside arrays, bigint, functions, symbols, class instances (Date, Map, typed arrays) and cycles.
 */
export function canonicalJSON(value: unknown): string {
  return write(value, '$', new Set());
}

function write(value: unknown, path: string, seen: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON cannot hold ${value} (at ${path})`);
      // ECMAScript Number-to-String is the JCS number form; -0 becomes 0.
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new TypeError(`canonical JSON cannot hold a ${typeof value} (at ${path})`);
  }
  const obj = value as object;
  if (seen.has(obj)) throw new TypeError(`canonical JSON cannot hold a cycle (at ${path})`);
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      const items = obj.map((item, i) => {
        if (item === undefined)
          throw new TypeError(`canonical JSON cannot hold undefined in an array (at ${path}[${i}])`);
        return write(item, `${path}[${i}]`, seen);
      });
      return `[${items.join(',')}]`;
    }
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError(`canonical JSON takes plain objects and arrays only (at ${path})`);
    }
    const record = obj as Record<string, unknown>;
    const members: string[] = [];
    // Default sort compares UTF-16 code units, the order RFC 8785 section 3.2.3 prescribes.
    for (const key of Object.keys(record).sort()) {
      const member = record[key];
      if (member === undefined) continue;
      members.push(`${JSON.stringify(key)}:${write(member, `${path}.${key}`, seen)}`);
    }
    return `{${members.join(',')}}`;
  } finally {
    seen.delete(obj);
  }
}
