/*
 * One table per command says its options: parseArgs reads them from it and `--help` prints them
 * from it, each with its default, so the help cannot miss an option the command takes. A mistake
 * on the command line is one line naming it and the help hint (exit 2), never parseArgs' own text.
 */
import { parseArgs } from 'node:util';

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  /** The value's name in the help (N, BYTES, URL). */
  value?: string;
  /** What it does, in a line. */
  help: string;
  /** The default as the help shows it: a value, an environment variable, "the server's". */
  default: string;
}

export interface CommandSpec {
  name: string;
  /** The synopsis, without "usage: ". */
  usage: string;
  summary: string;
  options: Record<string, OptionSpec>;
  positionals?: boolean;
  /** Lines after the options: exit codes, environment. */
  notes?: string[];
}

/** A mistake on the command line: main prints it as one line (`upwire: <message>`) and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** The options and positionals given, or undefined when `--help` (or `-h`) was asked for: the caller prints helpText. */
export function parseCommand(spec: CommandSpec, argv: string[]): { values: OptionValues; positionals: string[] } | undefined {
  const options = Object.fromEntries(Object.entries(spec.options).map(([name, o]) => [name, { type: o.type, ...(o.multiple ? { multiple: true } : {}) }]));
  let parsed: { values: OptionValues; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: spec.positionals === true, strict: true });
  } catch (err) {
    throw new UsageError(`${describeParseError(err, spec)} (see upwire ${spec.name} --help)`);
  }
  return parsed.values.help === true ? undefined : parsed;
}

/** parseArgs' errors (ERR_PARSE_ARGS_*) said in one short line, naming the option. */
function describeParseError(err: unknown, spec: CommandSpec): string {
  const { code, message } = err as { code?: string; message?: string };
  const quoted = /'([^']*)'/.exec(message ?? '')?.[1] ?? '';
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${quoted}`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const option = /^(-[-\w]+)/.exec(quoted)?.[1] ?? quoted;
    const takes = spec.options[option.replace(/^-+/, '')]?.type === 'boolean' ? 'takes no value' : 'needs a value';
    return `${option} ${takes}`;
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return `unexpected argument ${JSON.stringify(quoted)}`;
  return message ?? String(err);
}

/** `upwire <command> --help`: the synopsis, what it does, every option with its default, and the notes. */
export function helpText(spec: CommandSpec): string {
  const rows: [string, string][] = Object.entries(spec.options).map(([name, o]) => [`--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`, `${o.help} (default: ${o.default})`]);
  rows.push(['-h, --help', 'this help']);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return [
    `usage: ${spec.usage}`,
    '',
    spec.summary,
    '',
    'options:',
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`),
    ...(spec.notes ? ['', ...spec.notes] : []),
  ].join('\n');
}

/** A string option's value (the last one given). */
export function text(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function list(values: OptionValues, name: string): string[] | undefined {
  const value = values[name];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined;
}
