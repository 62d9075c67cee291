import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ResolvedConfig } from '../core/index.js';
import { HANDSHAKE_PATH, readIdentity } from '../plugins/handshake/index.js';
import { shownPath } from './keys.js';
import { packageRoot } from './package-info.js';

/** The handshake plugin as `lb run` sees it before start-up: its key file, and whether that exists yet. */
export interface HandshakeStart {
  readonly file: string;
  readonly existed: boolean;
  readonly plaintextRefused: boolean;
}

/** Reads the handshake plugin's options from the resolved configuration; undefined when it is not active. */
export function handshakeBeforeStart(resolved: ResolvedConfig): HandshakeStart | undefined {
  const entry = resolved.plugins.find((p) => p.plugin.name === 'handshake');
  if (!entry) return undefined;
  // The plugin resolves identityKey against the working directory, as here.
  const file = path.resolve(String(entry.options.identityKey));
  return { file, existed: existsSync(file), plaintextRefused: entry.options.plaintext !== 'allow' };
}

/** The banner's encryption lines, once started (the plugin has read or made the key by then). */
export function encryptionBanner(start: HandshakeStart, url: string): { fingerprint?: string; lines: string[] } {
  let fingerprint: string;
  try {
    fingerprint = readIdentity(start.file).fingerprint;
  } catch (e) {
    return { lines: [`  encryption: handshake on ${HANDSHAKE_PATH}; its identity key cannot be read now: ${(e as Error).message}`] };
  }
  const made = start.existed ? '' : ', made now';
  const plaintext = start.plaintextRefused ? '; plaintext requests refused' : '; plaintext requests allowed';
  return {
    fingerprint,
    lines: [
      `  encryption: handshake on ${HANDSHAKE_PATH}, identity ${fingerprint} (${shownPath(start.file)}${made})${plaintext}`,
      `  client:     const s = await (await import('lb/client')).connect('${url}', { pin: '${fingerprint}' })`,
    ],
  };
}

/** A command to paste into a shell: one encrypted GET through the SDK of this installation. */
export function sdkTryLine(url: string, pin: string): string {
  const sdk = pathToFileURL(path.join(packageRoot, 'dist', 'plugins', 'handshake', 'client', 'index.js')).href;
  return `Try: node --input-type=module -e "const { connect } = await import('${sdk}'); `
    + `const s = await connect('${url}', { pin: '${pin}' }); console.log(await (await s.fetch('/')).text())"`;
}

/** What the demo asks for: large enough for compression's default minSize (1024 bytes). */
export const DEMO_SDK_PATH = '/?pad=4096';

/**
 * Makes one encrypted request through the SDK, as a client would, and describes the
 * answer: status, backend, size, the coding inside the encryption and the bytes on the wire.
 */
export async function demoSdkRequest(url: string, pin: string, timeoutMs = 15000): Promise<string> {
  const { connect } = await import('../plugins/handshake/client/index.js');
  let coding = 'identity';
  let wire = 0;
  // Sees the sealed response before the SDK opens it: the SDK hides lb-content-encoding.
  const observing: typeof fetch = async (input, init) => {
    const res = await fetch(input, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    if (new URL(input instanceof Request ? input.url : String(input)).pathname === HANDSHAKE_PATH || !res.body) return res;
    coding = res.headers.get('lb-content-encoding') ?? 'identity';
    const counted = res.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, out) {
        wire += chunk.byteLength;
        out.enqueue(chunk);
      },
    }));
    return new Response(counted, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  const session = await connect(url, { pin, fetch: observing });
  try {
    const res = await session.fetch(DEMO_SDK_PATH);
    const text = await res.text();
    let backend = '';
    try {
      backend = ` from ${String((JSON.parse(text) as { backend?: unknown }).backend)}`;
    } catch {
      // Not the demo backend's JSON: the status and size say enough.
    }
    const inside = coding === 'identity' ? 'not compressed' : `${coding} inside the encryption`;
    return `an encrypted GET ${DEMO_SDK_PATH} through lb/client answered ${res.status}${backend} (${Buffer.byteLength(text)} bytes, ${inside}; ${wire} bytes of records on the wire)`;
  } finally {
    await session.close().catch(() => undefined);
  }
}
