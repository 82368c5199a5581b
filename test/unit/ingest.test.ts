import { describe, expect, it } from 'vitest';
import { parseCsv } from '../../activities/ingest/csv.js';
import { checkAndProfile } from '../../activities/ingest/ingest.js';
import { IngestSpecSchema } from '../../sdk/spec/ingest.js';

describe('parseCsv', () => {
  it('handles quotes, escaped quotes, embedded newlines and CRLF', () => {
    expect(parseCsv('a,b\r\n"x, y","say ""hi"""\n"multi\nline",2\n')).toEqual([
      ['a', 'b'],
      ['x, y', 'say "hi"'],
      ['multi\nline', '2'],
    ]);
  });
  it('reports an unterminated quote with its line', () => {
    expect(() => parseCsv('a\n1\n"open\n')).toThrow(/unterminated quoted field starting on line 3/);
  });
});

describe('checkAndProfile', () => {
  const spec = IngestSpecSchema.parse({
    source: 'x.csv',
    columns: { age: { type: 'integer', min: 0, maxMissing: 0.5 }, city: { type: 'string' }, ok: { type: 'boolean' } },
  });

  it('profiles numeric and categorical columns for monitoring', () => {
    const { problems, profile } = checkAndProfile(
      ['age', 'city', 'ok'],
      [
        ['30', 'Oslo', 'true'],
        ['40', 'Oslo', 'false'],
        ['', 'Rome', '1'],
      ],
      spec,
    );
    expect(problems).toEqual([]);
    expect(profile.age).toMatchObject({ count: 3, missing: 1, min: 30, max: 40, mean: 35, std: 5 });
    expect(profile.city?.categories).toEqual({ Oslo: 2, Rome: 1 });
    expect(profile.ok?.categories).toEqual({ true: 2, false: 1 });
  });

  it('reports missing and extra columns, wrong types and too many missing values', () => {
    const { problems } = checkAndProfile(
      ['age', 'zip'],
      [
        ['3.5', '1'],
        ['', '2'],
        ['', '3'],
      ],
      spec,
    );
    expect(problems.map((p) => `${p.kind}:${p.column}`)).toEqual(
      expect.arrayContaining([
        'missing-column:city',
        'missing-column:ok',
        'extra-column:zip',
        'type:age',
        'missing-values:age',
      ]),
    );
  });
});
