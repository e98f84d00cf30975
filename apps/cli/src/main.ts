import { createRequire } from 'node:module';
import { CliError } from './cli-error';
import { printable } from './printable';
import { type Command, commandHelp, parseCommand } from './command';
import { commands } from './commands';

function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'svg: SVG (latent diffusion without a VAE) in TypeScript',
    '',
    'usage: svg <command> [options]   (svg <command> --help for details; svg --version)',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V') {
    // dist/main.js sits one folder below the package's package.json.
    console.log(`svg ${(createRequire(import.meta.url)('../package.json') as { version: string }).version}`);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainHelp());
    return name ? 0 : 2;
  }
  const command: Command | undefined = commands.find((c) => c.name === name);
  if (!command) throw new CliError(`unknown command "${name}" (commands: ${commands.map((c) => c.name).join(', ')})`);
  const args = parseCommand(command, rest);
  if (args.values.help) {
    console.log(commandHelp(command));
    return 0;
  }
  await command.run(args);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof CliError) {
      console.error(`svg: ${printable(e.message, '\n')}`);
      process.exitCode = 2;
    } else {
      console.error(e);
      process.exitCode = 1;
    }
  },
);
