/**
 * Cron strings as Temporal Schedules read them (`ScheduleSpec.cronExpressions`), checked when a pipeline is
 * defined: the server only parses them at `client.schedules.apply`, long after a typo was committed. The grammar
 * follows the server's parser (temporalio/temporal, service/worker/scheduler/calendar.go), not Unix or Quartz
 * cron: no `?`, `L`, `W` or `#n`. Sandbox-safe.
 */

interface CronField {
  name: string;
  min: number;
  max: number;
  /** Full names that a prefix of at least `minPrefix` letters may stand for (index 0 = `min`). */
  names?: readonly string[];
  minPrefix?: number;
  /** A name to show in messages. */
  example?: string;
}

const MONTHS = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];
const DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

const SECOND: CronField = { name: 'second', min: 0, max: 59 };
const MINUTE: CronField = { name: 'minute', min: 0, max: 59 };
const HOUR: CronField = { name: 'hour', min: 0, max: 23 };
const DAY_OF_MONTH: CronField = { name: 'day-of-month', min: 1, max: 31 };
const MONTH: CronField = { name: 'month', min: 1, max: 12, names: MONTHS, minPrefix: 3, example: 'JAN' };
/** 0 and 7 are both Sunday, as in the server. */
const DAY_OF_WEEK: CronField = { name: 'day-of-week', min: 0, max: 7, names: DAYS, minPrefix: 2, example: 'MON' };
/** The server's calendar covers these years only. */
const YEAR: CronField = { name: 'year', min: 2000, max: 2100 };

const LAYOUTS: Record<number, readonly CronField[]> = {
  5: [MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK],
  6: [MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK, YEAR],
  7: [SECOND, MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK, YEAR],
};

const MACROS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

/** A Go duration with Temporal's extra `d` unit: `12h`, `1h30m`, `1.5d`. */
const DURATION = /^((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d))+$/;
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)/g;
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 };

/** Milliseconds in a Go-style duration, or NaN when it is not one. */
function durationMs(text: string): number {
  if (!DURATION.test(text)) return NaN;
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(DURATION_PART)) ms += Number(amount) * UNIT_MS[unit!]!;
  return ms;
}

const HOW =
  'give 5 fields "minute hour day-of-month month day-of-week" (e.g. "0 3 * * TUE" is 03:00 every Tuesday), ' +
  '6 with a year or 7 with a leading second, or one of @hourly, @daily, @weekly, @monthly, @yearly, "@every 12h"';

/** Reads one value (a number or a name prefix) of a field, or says why it is not one. */
function parseValue(text: string, field: CronField, min: number): number | string {
  if (field.names && field.minPrefix && text.length >= field.minPrefix && /^[a-z]+$/i.test(text)) {
    const index = field.names.findIndex((n) => n.startsWith(text.toLowerCase()));
    if (index >= 0) return field.min + index;
  }
  if (!/^\d+$/.test(text)) {
    if (text === '') return 'a value is missing';
    if (text === '?') return `"?" is Quartz syntax that Temporal does not accept: write "*"`;
    if (/^\d*[LW]$|^L-?\d*$/i.test(text)) return `"${text}": L and W are not supported; list the days instead`;
    const names = field.example ? `, or a name such as ${field.example}` : '';
    return `"${text}" is not a number${names}`;
  }
  const value = Number(text);
  if (value < field.min || value > field.max) return `${value} is out of range ${field.min}-${field.max}`;
  if (value < min) return `${value} is before the start of its range (${min})`;
  return value;
}

/** Checks one field: `*`, values, `a-b` ranges and `/step`s, comma-separated. */
function fieldProblem(text: string, field: CronField): string | undefined {
  for (const part of text.split(',')) {
    const [range = '', step, ...more] = part.split('/');
    if (more.length > 0) return `"${part}" has more than one "/"`;
    if (step !== undefined && !(/^\d+$/.test(step) && Number(step) > 0))
      return `"${part}": the step after "/" must be a positive number`;
    if (range === '*') continue;
    const [start = '', end, ...rest] = range.split('-');
    if (rest.length > 0) return `"${part}" has more than one "-"`;
    const first = parseValue(start, field, field.min);
    if (typeof first === 'string') return first;
    if (end === undefined) continue;
    const last = parseValue(end, field, first);
    if (typeof last === 'string') return `range "${range}": ${last}`;
  }
  return undefined;
}

/**
 * Why `expression` is not a cron string a Temporal Schedule accepts, or `undefined` when it is one.
 *
 * @example
 * cronProblem('0 3 * * MON-FRI'); // undefined
 * cronProblem('every tuesday'); // 'is not a cron expression: give 5 fields ...'
 */
export function cronProblem(expression: string): string | undefined {
  let text = expression.trim();
  const zone = /^(CRON_TZ|TZ)=[^ ]*( +|$)/.exec(text);
  if (zone) text = text.slice(zone[0].length);
  // The server cuts a comment at the first "#"; "MON#2" (Quartz: the 2nd Monday) would silently mean every Monday.
  const hash = text.indexOf('#');
  if (hash > 0 && !/\s/.test(text[hash - 1]!)) {
    const before = text.slice(0, hash).split(/\s+/).pop()!;
    const token = before + text.slice(hash).split(/\s+/)[0]!;
    return `"#" starts a comment in a Temporal cron string, so "${token}" would be read as "${before}": the nth-weekday form is not supported (a comment needs a space before "#")`;
  }
  if (hash >= 0) text = text.slice(0, hash).trim();
  if (text.startsWith('@every')) {
    // As the server reads it: one space, then the interval and an optional phase, nothing after.
    const [every = '', phase, ...more] = (/^@every (\S+)$/.exec(text)?.[1] ?? '').split('/');
    const interval = durationMs(every);
    const offset = phase === undefined ? 0 : durationMs(phase);
    if (more.length > 0 || Number.isNaN(interval) || Number.isNaN(offset)) {
      return 'must be "@every <interval>[/<phase>]" with durations like 90m, 12h or 1d (retrain.every is the plainer way to say it)';
    }
    if (interval < 1000) return `"${every}" is too short: a schedule's interval is at least 1s`;
    if (offset >= interval) return `the phase "${phase}" must be shorter than the interval "${every}"`;
    return undefined;
  }
  if (text.startsWith('@')) {
    return MACROS.includes(text) ? undefined : `"${text}" is not a known shorthand: use one of ${MACROS.join(', ')}`;
  }
  const fields = text.split(/\s+/).filter(Boolean);
  const layout = LAYOUTS[fields.length];
  if (!layout) {
    const count = fields.length === 0 ? 'no fields' : `${fields.length} field${fields.length === 1 ? '' : 's'}`;
    return `is not a cron expression (${count}): ${HOW}`;
  }
  for (const [i, field] of layout.entries()) {
    const problem = fieldProblem(fields[i]!, field);
    if (problem) return `${field.name} field (${ordinal(i + 1)} of ${fields.length}): ${problem}`;
  }
  return undefined;
}

function ordinal(n: number): string {
  return `${n}${n === 1 ? 'st' : n === 2 ? 'nd' : n === 3 ? 'rd' : 'th'}`;
}
