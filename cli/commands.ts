import { existsSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  createLoadBalancer, formatError, isLbError, LbError, loadConfigFile, resolveConfig, type LoadBalancer, type ReloadResult, type ResolvedConfig,
} from '../core/index.js';
import { builtinPlugins } from '../plugins/index.js';
import { builtinPresets } from '../presets/index.js';
import { isDemoAddress, startDemoBackends, type DemoBackend } from './demo.js';
import { demoSdkRequest, encryptionBanner, handshakeBeforeStart, sdkTryLine } from './encryption.js';
import { DEFAULT_IDENTITY_FILE } from './keys.js';
import { editorSchemaPath, packageVersion } from './package-info.js';

/** What a command writes to; tests pass their own. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text + '\n'),
  err: (text) => process.stderr.write(text + '\n'),
};

export interface ConfigFlags {
  config?: string;
  preset?: string;
  cwd?: string;
}

/** Loads and resolves the configuration with the built-in plugins and presets. */
export async function loadResolved(flags: ConfigFlags): Promise<ResolvedConfig> {
  const { file, raw } = await loadConfigFile({ configPath: flags.config, cwd: flags.cwd });
  return resolveConfig(raw, file, { plugins: builtinPlugins, presets: builtinPresets, presetOverride: flags.preset });
}

/** Prints an error the way every command does: no stack trace for lb's own errors. Returns the exit status. */
export function reportError(io: Io, error: unknown): number {
  if (isLbError(error)) {
    io.err(`lb: ${formatError(error)}`);
    return error.code.startsWith('LB_ERR_CONFIG') || error.code.startsWith('LB_ERR_PRESET') || error.code.startsWith('LB_ERR_PLUGIN') ? 2 : 1;
  }
  io.err(`lb: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return 1;
}

function describeConfig(resolved: ResolvedConfig): string {
  return resolved.file ? path.relative(process.cwd(), resolved.file) || resolved.file : '(none; built-in defaults)';
}

export async function validateCommand(io: Io, flags: ConfigFlags): Promise<number> {
  try {
    const resolved = await loadResolved(flags);
    const plugins = resolved.plugins.map((p) => p.plugin.name).join(', ') || 'none';
    io.out(`${describeConfig(resolved)} is valid: preset ${resolved.preset.name}, strategy ${resolved.strategy.plugin.name}, plugins: ${plugins}, ${resolved.backends.length} backend(s).`);
    return 0;
  } catch (e) {
    return reportError(io, e);
  }
}

export function presetsCommand(io: Io): number {
  for (const preset of builtinPresets.values()) {
    const strategy = typeof preset.strategy === 'string' ? preset.strategy : preset.strategy.use;
    const plugins = preset.plugins.map((p) => (typeof p === 'string' ? p : p.use));
    io.out(`${preset.name.padEnd(20)} ${preset.description}`);
    io.out(`${''.padEnd(20)} strategy: ${strategy}; plugins: ${plugins.length ? plugins.join(', ') : 'none'}`);
  }
  return 0;
}

export function initCommand(io: Io, options: { file?: string; force?: boolean; cwd?: string }): number {
  const cwd = options.cwd ?? process.cwd();
  const file = path.resolve(cwd, options.file ?? '.lbrc.json');
  if (existsSync(file) && !options.force) {
    io.err(`lb: ${path.relative(cwd, file) || file} already exists; pass --force to overwrite it.`);
    return 1;
  }
  let schema = path.relative(path.dirname(file), editorSchemaPath).split(path.sep).join('/');
  if (!schema.startsWith('.')) schema = `./${schema}`;
  const starter = {
    $schema: schema,
    preset: 'basic',
    listen: { host: '127.0.0.1', port: 8080 },
    backends: ['http://127.0.0.1:9001', 'http://127.0.0.1:9002', 'http://127.0.0.1:9003'],
  };
  writeFileSync(file, JSON.stringify(starter, null, 2) + '\n');
  io.out(`Wrote ${path.relative(cwd, file) || file}. Edit "backends", then run: lb run${options.file ? ` --config ${options.file}` : ''}`);
  return 0;
}

export interface RunFlags extends ConfigFlags {
  port?: number;
  host?: string;
  demo?: boolean;
  /** Reload when the rc file changes. */
  watch?: boolean;
  /** Write the process id here while running (for `lb reload --pid-file`). */
  pidFile?: string;
}

/** A started `lb run`: what it serves, and how to stop it. */
export interface Running {
  lb: LoadBalancer;
  url: string;
  demo: DemoBackend[];
  /** Loads and checks the rc again, as at start-up, and swaps the new generation in (SIGHUP). */
  reload(): Promise<ReloadResult>;
  stop(): Promise<void>;
}

function checkDemoAddresses(resolved: ResolvedConfig): void {
  const foreign = resolved.backends.map((b) => b.url).filter((u) => !isDemoAddress(u));
  if (foreign.length) {
    throw new LbError('LB_ERR_CONFIG_INVALID', { file: describeConfig(resolved) }, {
      details: [` - backends: --demo serves loopback addresses only; found ${foreign.join(', ')}.\n   -> Drop --demo to use real backends, or list 127.0.0.1 addresses.`],
    });
  }
}

/** Starts lb as `lb run` does, without touching process signals (tests call this). */
export async function startRun(io: Io, flags: RunFlags): Promise<Running> {
  let demo: DemoBackend[] = [];
  // The same checks at start-up and on every reload; demo backends start once, with the first configuration.
  const load = async (first: boolean): Promise<ResolvedConfig> => {
    let resolved = await loadResolved(flags);
    if (flags.demo) {
      checkDemoAddresses(resolved);
      if (first) demo = await startDemoBackends(resolved.backends.map((b) => b.url));
      if (!resolved.backends.length) resolved = { ...resolved, backends: demo.map((b) => ({ url: b.url, weight: 1 })) };
    }
    if (!resolved.backends.length) throw new LbError('LB_ERR_CONFIG_NO_BACKENDS', { file: describeConfig(resolved) });
    return resolved;
  };
  const resolved = await load(true);
  const handshake = handshakeBeforeStart(resolved);
  const lb = await createLoadBalancer(resolved);
  let info;
  try {
    info = await lb.listen(flags.port ?? resolved.config.listen.port, flags.host ?? resolved.config.listen.host);
  } catch (e) {
    await lb.close();
    await Promise.all(demo.map((b) => b.close()));
    throw e;
  }
  const plugins = resolved.plugins.map((p) => p.plugin.name);
  io.out(`lb ${packageVersion} listening on ${info.url}`);
  io.out(`  config:   ${describeConfig(resolved)} (preset ${resolved.preset.name})`);
  io.out(`  strategy: ${resolved.strategy.plugin.name}`);
  io.out(`  plugins:  ${plugins.length ? plugins.join(', ') : 'none'}`);
  io.out(`  backends: ${resolved.backends.map((b) => `${b.url}${b.weight && b.weight !== 1 ? ` (weight ${b.weight})` : ''}`).join(', ')}${demo.length ? ' (demo, in-process)' : ''}`);
  const encryption = handshake && encryptionBanner(handshake, info.url);
  for (const line of encryption?.lines ?? []) io.out(line);
  if (demo.length && encryption?.fingerprint) {
    try {
      io.out(`demo: ${await demoSdkRequest(info.url, encryption.fingerprint)}`);
    } catch (e) {
      io.err(`lb: demo: the encrypted request through lb/client failed: ${(e as Error).message}`);
    }
    io.out(sdkTryLine(info.url, encryption.fingerprint));
  }
  if (demo.length && !handshake?.plaintextRefused) io.out(`Try: curl -s ${info.url}/   (repeat it: the backend changes each time)`);
  return {
    lb,
    url: info.url,
    demo,
    reload: () => lb.reload(() => load(false)),
    stop: async () => {
      await lb.close();
      await Promise.all(demo.map((b) => b.close()));
    },
  };
}

/** `lb run`: start, then shut down gracefully on SIGINT/SIGTERM and exit 0. */
export async function runCommand(io: Io, flags: RunFlags): Promise<number> {
  // Listened for before start-up: SIGHUP's default action ends the process, and "listening on" is
  // printed (and may be acted on) before startRun returns. One that comes meanwhile reloads once started.
  let running: Running | undefined;
  let hupWhileStarting = false;
  const onHup = () => {
    if (!running) {
      hupWhileStarting = true;
      return;
    }
    running.lb.logger.info('SIGHUP received; reloading the configuration');
    void running.reload();
  };
  process.on('SIGHUP', onHup);
  try {
    running = await startRun(io, flags);
  } catch (e) {
    process.off('SIGHUP', onHup);
    return reportError(io, e);
  }
  const pidFile = flags.pidFile && path.resolve(flags.pidFile);
  if (pidFile) writeFileSync(pidFile, `${process.pid}\n`);
  if (hupWhileStarting) onHup();
  const watcher = flags.watch ? watchConfig(running) : undefined;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        io.err(`lb: ${signal} again; exiting without waiting.`);
        process.exit(1);
      }
      stopping = true;
      process.off('SIGHUP', onHup);
      watcher?.close();
      if (pidFile) rmSync(pidFile, { force: true });
      running.lb.logger.info(`${signal} received; finishing in-flight requests`, { inFlight: running.lb.pool.targets.reduce((n, t) => n + t.inFlight, 0) });
      running.stop().then(
        () => {
          running.lb.logger.info('stopped');
          resolve(0);
        },
        (e: unknown) => resolve(reportError(io, e)),
      );
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}

/** Reloads when the rc file changes (editors write in bursts: one reload per burst). */
function watchConfig(running: Running): { close(): void } | undefined {
  const file = running.lb.generation.resolved.file;
  if (!file) return undefined;
  let timer: NodeJS.Timeout | undefined;
  // The folder, not the file: editors replace files on save, which ends a watch on the file itself.
  const watcher = watch(path.dirname(file), (_event, name) => {
    if (name !== path.basename(file)) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      running.lb.logger.info(`${path.basename(file)} changed; reloading the configuration`);
      void running.reload();
    }, 150);
  });
  watcher.unref();
  return { close: () => { clearTimeout(timer); watcher.close(); } };
}

/** `lb reload`: sends SIGHUP to a running lb, found by `--pid` or `--pid-file`. */
export function reloadCommand(io: Io, options: { pid?: string; pidFile?: string }): number {
  let text = options.pid;
  if (text === undefined && options.pidFile) {
    try {
      text = readFileSync(options.pidFile, 'utf8').trim();
    } catch (e) {
      io.err(`lb: cannot read ${options.pidFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}. Start lb with \`lb run --pid-file ${options.pidFile}\`.`);
      return 1;
    }
  }
  if (text === undefined) {
    io.err('lb: reload needs --pid N or --pid-file FILE (the file `lb run --pid-file FILE` writes).\nRun `lb --help` for usage.');
    return 2;
  }
  const pid = Number(text);
  if (!/^\d+$/.test(text) || pid < 1) {
    io.err(`lb: "${text}" is not a process id.`);
    return 2;
  }
  try {
    process.kill(pid, 'SIGHUP');
  } catch (e) {
    io.err(`lb: cannot signal process ${pid}: ${(e as NodeJS.ErrnoException).code === 'ESRCH' ? 'no such process' : (e as Error).message}.`);
    return 1;
  }
  io.out(`Sent SIGHUP to lb (pid ${pid}). Its log has one line for the reload: the new generation and what changed, or why it was refused.`);
  return 0;
}

export const HELP = `lb ${packageVersion}: a load balancer and reverse proxy built from plugins.

Usage: lb <command> [options]

Commands:
  run        Start the proxy.
             --config FILE   rc file (default: .lbrc, .lbrc.json, .lbrc.yaml, .lbrc.js, lb.config.js or package.json#lb in this folder)
             --preset NAME   preset to use; wins over the rc's "preset"
             --port N        port to listen on (0: any free port); wins over listen.port
             --host ADDR     address to bind; wins over listen.host
             --demo          start example backends in-process (at the rc's loopback addresses, or three on free ports)
             --watch         reload when the rc file changes
             --pid-file FILE write the process id to FILE (for \`lb reload --pid-file FILE\`)
             SIGHUP reloads the rc: new requests go to the new configuration, requests in flight finish.
  reload     Reload a running lb (sends it SIGHUP).  --pid-file FILE or --pid N
  validate   Check a configuration and exit 0 when it is valid, 2 when not.  --config FILE, --preset NAME
  presets    List the presets with their plugins.
  init       Write a starter .lbrc.json.  --config FILE (where to write), --force (overwrite)
  agent      Serve this host's load report (CPU, memory, load) for lb's health checks, as a sidecar.
             --port N        port to listen on (default 9180)
             --host ADDR     address to bind (default 127.0.0.1; 0.0.0.0 to reach it from another host)
  keys       The identity key of the handshake plugin (end-to-end encryption: presets secure, secure-compressed).
             keys generate [--out FILE] [--force]  write a new ECDSA P-256 key, mode 0600 (default FILE: ${DEFAULT_IDENTITY_FILE})
             keys fingerprint [FILE]               print its fingerprint (SHA256:...), which clients pin

Options:
  --version  Print the version.
  --help     Print this help.

Exit status: 0 success; 1 runtime failure; 2 invalid configuration or usage.
Docs: docs/getting-started.md, docs/configuration.md, docs/health.md, docs/encryption.md, docs/errors.md.`;
