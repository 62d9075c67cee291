import path from 'node:path';
import { generateIdentityFile, readIdentity } from '../plugins/handshake/identity.js';
import { handshakeSchema } from '../plugins/handshake/schema.js';
import type { Io } from './commands.js';

/** Where `lb keys` and the handshake plugin look for the identity key by default (relative to the working directory). */
export const DEFAULT_IDENTITY_FILE: string = handshakeSchema.properties.identityKey.default;

export const KEYS_SUBCOMMANDS = ['generate', 'fingerprint'] as const;

export interface KeysFlags {
  /** `generate`: where to write. */
  out?: string;
  /** `generate`: replace an existing file. */
  force?: boolean;
  /** `fingerprint`: the key file. */
  file?: string;
  cwd?: string;
}

/** A path as the user would type it: relative to `cwd` when inside it. */
export function shownPath(file: string, cwd = process.cwd()): string {
  const rel = path.relative(cwd, file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/**
 * `lb keys generate [--out FILE] [--force]`: a new ECDSA P-256 identity key (mode 0600).
 * `lb keys fingerprint [FILE]`: the fingerprint clients pin, alone on stdout.
 */
export function keysCommand(io: Io, subcommand: string | undefined, flags: KeysFlags): number {
  const cwd = flags.cwd ?? process.cwd();
  if (subcommand === 'generate') {
    const file = path.resolve(cwd, flags.out ?? DEFAULT_IDENTITY_FILE);
    let identity;
    try {
      identity = generateIdentityFile(file, flags.force);
    } catch (e) {
      io.err(`lb: ${(e as Error).message}`);
      return 1;
    }
    const shown = shownPath(identity.file, cwd);
    io.out(`Wrote ${shown} (ECDSA P-256 identity key, mode 0600). Keep it secret; back it up.`);
    io.out(`  fingerprint: ${identity.fingerprint}`);
    io.out(`  clients pin it: connect(url, { pin: '${identity.fingerprint}' }); \`lb keys fingerprint ${shown}\` prints it again.`);
    if (shown !== DEFAULT_IDENTITY_FILE) io.out(`  lb uses it with the handshake option "identityKey": "${shown}".`);
    return 0;
  }
  if (subcommand === 'fingerprint') {
    try {
      // Relative names stay relative, so that the fix in the message reads as typed.
      const file = flags.file ?? DEFAULT_IDENTITY_FILE;
      io.out(readIdentity(flags.cwd ? path.resolve(flags.cwd, file) : file).fingerprint);
      return 0;
    } catch (e) {
      io.err(`lb: ${(e as Error).message}`);
      return 1;
    }
  }
  io.err(`lb: ${subcommand === undefined ? 'keys needs a subcommand' : `unknown keys subcommand "${subcommand}"`}: ${KEYS_SUBCOMMANDS.join(' or ')}.\nRun \`lb --help\` for usage.`);
  return 2;
}
