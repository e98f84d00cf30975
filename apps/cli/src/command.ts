import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError } from './cli-error';

type Options = NonNullable<ParseArgsConfig['options']>;

/** One `svg <name>` command: its options, help text and the work (which itself lives in the packages). */
export interface Command<O extends Options = Options> {
  name: string;
  summary: string;
  usage: string;
  examples: string[];
  options: O;
  /** Help text per option. */
  optionHelp: Partial<Record<keyof O & string, string>>;
  run(args: { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] }): Promise<void>;
}

export const backendOption = {
  backend: { type: 'string', default: 'auto' },
} as const;

export const backendHelp = { backend: 'auto | webgpu | wasm | cpu | tensorflow (default auto)' };

export function defineCommand<O extends Options>(c: Command<O>): Command<O> {
  return c;
}

export function parseCommand(command: Command, argv: string[]) {
  try {
    return parseArgs({ args: argv, options: { ...command.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    const first = (e as Error).message.split('\n')[0]!;
    // parseArgs reads "--classes -1" as a missing value followed by an option "-1".
    const dashed = /^Option '(--[\w-]+)(?:[^']*)?' argument is ambiguous/.exec(first);
    const message = dashed ? `${dashed[1]} needs a value (write a value that starts with "-" as ${dashed[1]}=<value>)` : first;
    throw new CliError(`${message} (see: svg ${command.name} --help)`);
  }
}

export function commandHelp(c: Command): string {
  const opts = Object.entries(c.options).map(([name, o]) => {
    const short = 'short' in o && o.short ? `-${o.short}, ` : '';
    const arg = o.type === 'string' ? ` <${name}>` : '';
    const help = (c.optionHelp as Record<string, string | undefined>)[name] ?? '';
    return `  ${`${short}--${name}${arg}`.padEnd(30)} ${help}`;
  });
  return [`svg ${c.name}: ${c.summary}`, '', `usage: ${c.usage}`, '', 'options:', ...opts, '', 'examples:', ...c.examples.map((e) => `  ${e}`)].join('\n');
}

/** Reads a required string option, or fails with a one-line message. */
export function requireString(values: Record<string, unknown>, name: string, command: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new CliError(`missing --${name} (see: svg ${command} --help)`);
  return v;
}

/** Parses an integer option with bounds. */
export function intOption(values: Record<string, unknown>, name: string, min = -Infinity, max = Infinity): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new CliError(`--${name} must be an integer in [${min}, ${max}], got "${v}"`);
  return n;
}

