import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLoadBalancer, type LoadBalancer } from '../../core/index.js';
import { connect } from '../../plugins/handshake/client/index.js';
import { generateIdentityFile } from '../../plugins/handshake/identity.js';
import { parseOffer } from '../../plugins/handshake/protocol/messages.js';
import { toB64u } from '../../plugins/handshake/protocol/bytes.js';
import { captureLog, closeAfterEach } from '../support/servers.js';
import { resolveRc, startCountingBackend, type CountingBackend } from '../reload/helpers.js';

describe('the handshake across reloads', () => {
  let backend: CountingBackend | undefined;
  let lb: LoadBalancer | undefined;
  closeAfterEach(() => [lb, backend]);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lb-reload-hs-'));
  const identity = generateIdentityFile(path.join(dir, 'id.pem'));
  const rc = (extra: Record<string, unknown> = {}) => ({
    backends: [backend!.url],
    plugins: ['memory-keystore', { use: 'handshake', options: { identityKey: identity.file, pu1: { mode: 'rotating' }, ...extra } }],
  });

  it('keeps sessions, offers and the rotating PU1 through a reload, so clients notice nothing', async () => {
    backend = await startCountingBackend('a');
    lb = await createLoadBalancer(await resolveRc(rc()), { logger: captureLog().logger });
    const { url } = await lb.listen(0, '127.0.0.1');
    const session = await connect(url, { pin: identity.fingerprint });
    expect((await session.fetch('/before')).status).to.equal(200);
    const offerBefore = parseOffer(await (await fetch(`${url}/.lb/handshake`)).text());

    expect((await lb.reload(() => resolveRc(rc({ sessionTtlSeconds: 600 })))).ok).to.equal(true);

    // The session made by generation 1 is served by generation 2, and the rotating PU1 is the same one.
    const after = await session.fetch('/after', { method: 'POST', body: 'kept' });
    expect(after.status).to.equal(200);
    expect(JSON.parse(await after.text())).to.deep.include({ backend: 'a' });
    const offerAfter = parseOffer(await (await fetch(`${url}/.lb/handshake`)).text());
    expect(offerBefore.ok && offerAfter.ok).to.equal(true);
    if (offerBefore.ok && offerAfter.ok) expect(toB64u(offerAfter.value.pu1)).to.equal(toB64u(offerBefore.value.pu1));
    expect(backend.paths).to.deep.equal(['/before', '/after']);
    // And a new handshake after the reload works too.
    const fresh = await connect(url, { pin: identity.fingerprint });
    expect((await fresh.fetch('/fresh')).status).to.equal(200);
  });

  it('refuses a reload whose identity key file is not a key, and keeps serving the sessions it has', async () => {
    backend = await startCountingBackend('a');
    lb = await createLoadBalancer(await resolveRc(rc()), { logger: captureLog().logger });
    const { url } = await lb.listen(0, '127.0.0.1');
    const session = await connect(url, { pin: identity.fingerprint });
    const notKey = path.join(dir, 'not-a-key.pem');
    fs.writeFileSync(notKey, 'hello\n');
    const result = await lb.reload(() => resolveRc(rc({ identityKey: notKey, createIdentity: false })));
    expect(result.ok).to.equal(false);
    const error = (result as { error?: { code: string; message: string } }).error;
    expect(error?.code).to.equal('LB_ERR_HANDSHAKE_IDENTITY');
    expect(error?.message).to.contain('not-a-key.pem').and.to.contain('lb keys generate');
    expect((await session.fetch('/still')).status).to.equal(200);
  });
});
