import { expect } from 'chai';
import type { Socket } from 'node:net';
import { defineErrors, ERRORS, isLbError, LbError, resolveConfig } from '../../core/index.js';
import { compressionErrors } from '../../plugins/compression/errors.js';
import { builtinPlugins } from '../../plugins/index.js';
import { builtinPresets } from '../../presets/index.js';
import { guardErrors } from '../fixtures/plugins/errors-guard.js';
import { request, serversPerTest } from '../support/servers.js';

const backends = ['http://127.0.0.1:1'];
const GUARD = './test/fixtures/plugins/errors-guard.ts';

async function problems(rc: Record<string, unknown>): Promise<string[]> {
  try {
    await resolveConfig({ backends, ...rc }, '', { plugins: builtinPlugins, presets: builtinPresets });
  } catch (e) {
    expect(e).to.be.instanceOf(LbError);
    expect((e as LbError).code).to.equal('LB_ERR_CONFIG_INVALID');
    return [...(e as LbError).details];
  }
  throw new Error('expected the configuration to be rejected');
}

describe('plugin error codes', () => {
  const servers = serversPerTest();

  it('makes lb errors from a plugin\'s table with defineErrors', () => {
    const table = defineErrors({
      LB_ERR_HELLO_TOO_RUDE: { message: 'Greeting "{word}" is not allowed.', statusCode: 403, source: 'downstream', retryable: 'never', meaning: 'Rude.', fix: 'Greet politely.' },
    });
    expect(Object.isFrozen(table.specs)).to.equal(true);
    expect(Object.isFrozen(table.specs.LB_ERR_HELLO_TOO_RUDE)).to.equal(true);
    const error = table.create('LB_ERR_HELLO_TOO_RUDE', { word: 'oi' });
    expect(isLbError(error)).to.equal(true);
    expect({ ...error, message: error.message }).to.deep.include({
      code: 'LB_ERR_HELLO_TOO_RUDE', message: 'Greeting "oi" is not allowed.', statusCode: 403, source: 'downstream', retryable: 'never', fix: 'Greet politely.',
    });
  });

  it('ends a request with the plugin\'s own status and code, before any backend sees it', async () => {
    const backend = await servers.backend('b');
    const lb = await servers.lb({ backends: [backend.url], plugins: [GUARD] });
    const denied = await request(lb.url + '/private', { headers: { 'x-deny': 'no badge' } });
    expect([denied.status, denied.body]).to.deep.equal([403, '403 Forbidden (LB_ERR_GUARD_DENIED)\n']);
    expect(lb.log.lines.some((l) => l.includes(' warn  [lb] Request to /private denied: no badge. code=LB_ERR_GUARD_DENIED method=GET path=/private'))).to.equal(true);
    expect(backend.hits).to.equal(0);
    expect((await request(lb.url + '/private')).status).to.equal(200);
  });

  it('turns a plugin error without an HTTP status into a 500 naming the plugin and the hook', async () => {
    const backend = await servers.backend('b');
    const lb = await servers.lb({ backends: [backend.url], plugins: [GUARD] });
    const failed = await request(lb.url + '/x', { headers: { 'x-deny': 'silent' } });
    expect([failed.status, failed.body]).to.deep.equal([500, '500 Internal Server Error (LB_ERR_PLUGIN_HOOK_FAILED)\n']);
    expect(lb.log.lines.some((l) => l.includes(' error [lb] Plugin "errors-guard" failed in hook transformRequest: The guard gave up on /x. code=LB_ERR_PLUGIN_HOOK_FAILED'))).to.equal(true);
    expect(backend.hits).to.equal(0);
  });

  it('refuses malformed codes and specs when the configuration is resolved', async () => {
    const line = (code: string, detail: string) =>
      ` - plugins[0]: Plugin "errors-invalid" declares an invalid error code ${code}: ${detail} (LB_ERR_PLUGIN_CODE_INVALID)\n   -> Correct the plugin's \`defineErrors\` table (see docs/plugins.md, "Error codes").`;
    const pattern = 'codes are LB_ERR_<AREA>_<WHAT> in capitals, digits and underscores';
    expect(await problems({ plugins: ['./test/fixtures/plugins/errors-invalid.ts'] })).to.deep.equal([
      line('LB_ERR_lower_case', pattern),
      line('ERR_INVALIDFIX_NO_PREFIX', pattern),
      line('LB_ERR_NOAREA', pattern),
      line('LB_ERR_INVALIDFIX_STATUS', 'statusCode must be 0 or 400..599'),
      line('LB_ERR_INVALIDFIX_SOURCE', 'source must be upstream, downstream or internal'),
      line('LB_ERR_INVALIDFIX_RETRY', 'retryable must be "any", "idempotent" or "never"'),
      line('LB_ERR_INVALIDFIX_NO_FIX', 'the spec needs a meaning and a fix'),
      line('LB_ERR_INVALIDFIX_NO_MESSAGE', 'the spec has no message'),
    ]);
  });

  it('refuses a code that the core or another loaded plugin already declares, naming both owners', async () => {
    const line = (at: string, code: string, first: string, second: string) =>
      ` - ${at}: Error code ${code} is declared by both ${first} and ${second}. (LB_ERR_PLUGIN_CODE_DUPLICATE)\n   -> Rename the code in one of the plugins (use the plugin's own area, as LB_ERR_<AREA>_<WHAT>), or load only one of them.`;
    const DUP = './test/fixtures/plugins/errors-duplicate.ts';
    expect(await problems({ plugins: [GUARD, DUP, 'compression'] })).to.deep.equal([
      line('plugins[1]', 'LB_ERR_ROUTE_NOT_FOUND', 'lb\'s core', 'plugin "errors-duplicate"'),
      line('plugins[1]', 'LB_ERR_GUARD_DENIED', 'plugin "errors-guard"', 'plugin "errors-duplicate"'),
      line('plugins[2]', 'LB_ERR_COMPRESSION_BOMB', 'plugin "errors-duplicate"', 'plugin "compression"'),
    ]);
    // The compression codes belong to the compression plugin: without it loaded, the code is free.
    expect(await problems({ plugins: [DUP] })).to.deep.equal([line('plugins[0]', 'LB_ERR_ROUTE_NOT_FOUND', 'lb\'s core', 'plugin "errors-duplicate"')]);
  });

  it('keeps the compression codes in the compression plugin, not the core', () => {
    const codes = ['LB_ERR_COMPRESSION_BOMB', 'LB_ERR_COMPRESSION_CORRUPT', 'LB_ERR_COMPRESSION_UNSUPPORTED', 'LB_ERR_COMPRESSION_UPSTREAM_MISLABELED'];
    expect(Object.keys(compressionErrors.specs)).to.have.members(codes);
    expect(Object.keys(ERRORS).filter((c) => c.startsWith('LB_ERR_COMPRESSION_'))).to.deep.equal([]);
    expect(builtinPlugins.get('compression')!.errors).to.equal(compressionErrors);
    expect(guardErrors.specs.LB_ERR_GUARD_DENIED.statusCode).to.equal(403);
  });

  describe('retryable, as the engine reads it', () => {
    const resetter = () => servers.backend('resetter', (req) => { (req.socket as Socket).destroy(); });

    it('marks a backend reset retryable for idempotent requests only, and a refused connection for any', () => {
      expect(ERRORS.LB_ERR_UPSTREAM_RESET.retryable).to.equal('idempotent');
      expect(ERRORS.LB_ERR_UPSTREAM_CONNECT.retryable).to.equal('any');
      expect(ERRORS.LB_ERR_UPSTREAM_TIMEOUT.retryable).to.equal('never');
    });

    it('retries a bodiless GET reset before response headers on another backend', async () => {
      const [bad, good] = [await resetter(), await servers.backend('good')];
      const lb = await servers.lb({ backends: [bad.url, good.url] });
      const response = await request(lb.url + '/item');
      expect([response.status, JSON.parse(response.body).backend]).to.deep.equal([200, 'good']);
      expect([bad.hits, good.hits]).to.deep.equal([1, 1]);
      expect(lb.log.lines.some((l) => / warn  \[lb\] Backend 127\.0\.0\.1:\d+ closed the connection: .* Retrying on another target\. code=LB_ERR_UPSTREAM_RESET method=GET path=\/item attempt=1/.test(l))).to.equal(true);
    });

    it('does not retry a reset POST, nor a reset GET when idempotentOnReset is off', async () => {
      const [bad, good] = [await resetter(), await servers.backend('good')];
      const lb = await servers.lb({ backends: [bad.url, good.url] });
      const post = await request(lb.url + '/orders', { method: 'POST' });
      expect([post.status, post.body]).to.deep.equal([502, '502 Bad Gateway (LB_ERR_UPSTREAM_RESET)\n']);
      expect([bad.hits, good.hits]).to.deep.equal([1, 0]);
      const strict = await servers.lb({ backends: [bad.url, good.url], retries: { idempotentOnReset: false } });
      expect((await request(strict.url + '/item')).status).to.equal(502);
      expect([bad.hits, good.hits]).to.deep.equal([2, 0]);
    });
  });
});
