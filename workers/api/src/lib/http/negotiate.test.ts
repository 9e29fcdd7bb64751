import { describe, expect, it } from 'vitest';
import { negotiate } from './negotiate.ts';

const offered = ['application/json', 'application/vnd.gigatok.tokens'] as const;

describe('negotiate', () => {
  it('gives the first offered type when Accept is absent, empty or */*', () => {
    expect(negotiate(undefined, offered)).toBe('application/json');
    expect(negotiate('', offered)).toBe('application/json');
    expect(negotiate('*/*', offered)).toBe('application/json');
  });

  it('picks an explicitly named type over a wildcard', () => {
    expect(negotiate('application/vnd.gigatok.tokens', offered)).toBe('application/vnd.gigatok.tokens');
    expect(negotiate('application/vnd.gigatok.tokens, */*;q=0.1', offered)).toBe(
      'application/vnd.gigatok.tokens',
    );
    expect(negotiate('application/*;q=0.5, application/vnd.gigatok.tokens', offered)).toBe(
      'application/vnd.gigatok.tokens',
    );
  });

  it('honours quality values, and q=0 excludes a type', () => {
    expect(negotiate('application/json;q=0.4, application/vnd.gigatok.tokens;q=0.9', offered)).toBe(
      'application/vnd.gigatok.tokens',
    );
    expect(negotiate('application/json;q=0, */*', offered)).toBe('application/vnd.gigatok.tokens');
  });

  it('returns null when nothing offered is acceptable', () => {
    expect(negotiate('image/png', offered)).toBeNull();
    expect(negotiate('text/html, application/xml;q=0.9', offered)).toBeNull();
  });
});
