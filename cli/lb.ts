#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { HELP, initCommand, presetsCommand, processIo, reloadCommand, runCommand, validateCommand, type Io } from './commands.js';
import { packageVersion } from './package-info.js';
import { agentCommand } from './agent.js';
import { keysCommand } from './keys.js';

const COMMANDS = ['run', 'validate', 'presets', 'init', 'agent', 'reload', 'keys'] as const;

function usageError(io: Io, message: string): number {
  io.err(`lb: ${message}\nRun \`lb --help\` for usage.`);
  return 2;
}

/** Parses `argv` (without node and the script) and runs the command; resolves with the exit status. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        preset: { type: 'string', short: 'p' },
        port: { type: 'string' },
        host: { type: 'string' },
        demo: { type: 'boolean' },
        watch: { type: 'boolean', short: 'w' },
        'pid-file': { type: 'string' },
        pid: { type: 'string' },
        force: { type: 'boolean' },
        out: { type: 'string', short: 'o' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    return usageError(io, (e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.version) {
    io.out(packageVersion);
    return 0;
  }
  const command = positionals[0];
  if (values.help || command === undefined || command === 'help') {
    io.out(HELP);
    return 0;
  }
  if (!(COMMANDS as readonly string[]).includes(command)) return usageError(io, `unknown command "${command}"; commands are ${COMMANDS.join(', ')}.`);
  // `keys` takes a subcommand, and `keys fingerprint` a file.
  const allowed = command !== 'keys' ? 1 : positionals[1] === 'fingerprint' ? 3 : 2;
  if (positionals.length > allowed) {
    const hint = command === 'keys' && positionals[1] === 'generate' ? `; name the file with --out ${positionals[allowed]}` : '';
    return usageError(io, `unexpected argument "${positionals[allowed]}"${hint}.`);
  }

  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port > 65535) return usageError(io, `--port must be an integer from 0 to 65535; found "${values.port}".`);
  }
  switch (command) {
    case 'run':
      return runCommand(io, { config: values.config, preset: values.preset, port, host: values.host, demo: values.demo, watch: values.watch, pidFile: values['pid-file'] });
    case 'reload':
      return reloadCommand(io, { pid: values.pid, pidFile: values['pid-file'] });
    case 'validate':
      return validateCommand(io, { config: values.config, preset: values.preset });
    case 'presets':
      return presetsCommand(io);
    case 'init':
      return initCommand(io, { file: values.config, force: values.force });
    case 'agent':
      return agentCommand(io, { port, host: values.host });
    case 'keys':
      return keysCommand(io, positionals[1], { out: values.out, force: values.force, file: positionals[2] });
  }
  return 2;
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // `run` leaves nothing open after a graceful stop; the other commands never open anything.
});
