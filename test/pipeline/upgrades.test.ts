import { expect } from 'chai';
import type http from 'node:http';
import net from 'node:net';
import { held } from '../fixtures/plugins/upgrade-guard.js';
import { outcomes } from '../fixtures/plugins/upgrade-observer.js';
import { serversPerTest, type TestLb } from '../support/servers.js';

const GUARD = './test/fixtures/plugins/upgrade-guard.ts';
const OBSERVER = './test/fixtures/plugins/upgrade-observer.ts';

const upgradeRequest = (path: string, headers: Record<string, string> = {}) =>
  `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n`
  + Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n';

/** Opens a connection, sends an upgrade request, and resolves once the response head is in. */
function upgrade(port: number, path: string, headers?: Record<string, string>): Promise<{ socket: net.Socket; head: string; closed: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(upgradeRequest(path, headers)));
    let got = '';
    let all = '';
    const closed = new Promise<string>((done) => socket.on('close', () => done(all)));
    const onData = (c: Buffer) => {
      got += c.toString('latin1');
      all += c.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      socket.on('data', (more: Buffer) => { all += more.toString('latin1'); });
      resolve({ socket, head: got.slice(0, end), closed });
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}

/** Sends `text` through an open tunnel and resolves with the backend's echo. */
function roundTrip(socket: net.Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once('data', (c: Buffer) => resolve(c.toString('latin1')));
    socket.write(text);
  });
}

async function until(what: string, condition: () => boolean, deadlineMs = 3000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('WebSocket upgrades', () => {
  const servers = serversPerTest();
  beforeEach(() => {
    outcomes.length = 0;
    held.length = 0;
  });

  /** A WebSocket backend: answers 101, echoes with "echo:", closes when the client does; counts upgrades. */
  async function wsBackend() {
    const backend = await servers.backend('ws');
    const state = { upgrades: 0, backend };
    backend.server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
      state.upgrades++;
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      socket.on('data', (c: Buffer) => socket.write(Buffer.concat([Buffer.from('echo:'), c])));
      socket.on('end', () => socket.end());
    });
    return state;
  }

  const active = (lb: TestLb) => lb.lb.generation.engine.active;

  it('counts a tunnel as active, then reports it to requestDone and the access log once closed, with its bytes', async () => {
    const ws = await wsBackend();
    const lb = await servers.lb({ backends: [ws.backend.url], plugins: [OBSERVER], log: { access: true } });
    const { socket, head, closed } = await upgrade(lb.port, '/chat');
    expect(head.split('\r\n')[0]).to.equal('HTTP/1.1 101 Switching Protocols');
    expect(await roundTrip(socket, 'hello')).to.equal('echo:hello');
    expect(active(lb)).to.equal(1);
    expect(outcomes).to.deep.equal([]);
    socket.end();
    await closed;
    await until('the tunnel to be reported', () => outcomes.length === 1);
    const [outcome] = outcomes;
    expect(outcome).to.deep.include({ path: '/chat', statusCode: 101, error: undefined, bytesIn: socket.bytesWritten, bytesOut: socket.bytesRead });
    expect(outcome.bytesIn).to.be.greaterThan(upgradeRequest('/chat').length);
    expect(outcome.durationMs).to.be.a('number').greaterThan(0);
    expect(active(lb)).to.equal(0);
    const access = lb.log.lines.filter((l) => l.includes(' [lb] request '));
    expect(access).to.have.length(1);
    expect(access[0]).to.match(new RegExp(` info  \\[lb\\] request method=GET path=/chat status=101 target=127\\.0\\.0\\.1:${ws.backend.port} ms=[\\d.]+ upgrade=websocket bytesIn=${socket.bytesWritten} bytesOut=${socket.bytesRead}$`));
  });

  it('keeps an open tunnel working through shutdown for up to shutdownGraceMs, then cuts it', async () => {
    const ws = await wsBackend();
    const lb = await servers.lb({ backends: [ws.backend.url], timeouts: { shutdownGraceMs: 400 } });
    const { socket, closed } = await upgrade(lb.port, '/chat');
    let shut = false;
    const closing = lb.close().then(() => { shut = true; });
    expect(await roundTrip(socket, 'still there?')).to.equal('echo:still there?');
    expect(shut).to.equal(false);
    await closing;
    await closed;
    expect(lb.log.lines.some((l) => l.includes(' warn  [lb] shutdown grace period over; closing remaining connections inFlight=1'))).to.equal(true);
  });

  it('finishes shutdown as soon as the last tunnel closes', async function () {
    // Far shorter than the grace period: waiting it out fails the test.
    this.timeout(5000);
    const ws = await wsBackend();
    const lb = await servers.lb({ backends: [ws.backend.url], timeouts: { shutdownGraceMs: 15000 } });
    const { socket, closed } = await upgrade(lb.port, '/chat');
    const closing = lb.close();
    expect(await roundTrip(socket, 'bye')).to.equal('echo:bye');
    expect(active(lb)).to.equal(1);
    socket.end();
    await closed;
    await closing;
    expect(lb.log.lines.some((l) => l.includes('grace period over'))).to.equal(false);
  });

  it('lets a beforeUpgrade tap refuse an upgrade with its own status, so that no backend sees it', async () => {
    const ws = await wsBackend();
    const lb = await servers.lb({ backends: [ws.backend.url], plugins: [GUARD, OBSERVER] });
    const refused = await upgrade(lb.port, '/chat');
    expect(refused.head.split('\r\n')[0]).to.equal('HTTP/1.1 403 Forbidden');
    expect((await refused.closed).split('\r\n\r\n')[1]).to.equal('403 Forbidden (LB_ERR_WSGUARD_FORBIDDEN)\n');
    expect([ws.upgrades, ws.backend.hits]).to.deep.equal([0, 0]);
    expect(lb.log.lines.some((l) => l.includes(' warn  [lb] WebSocket upgrade to /chat refused: no valid token. code=LB_ERR_WSGUARD_FORBIDDEN path=/chat status=403 upgrade=websocket'))).to.equal(true);
    await until('the refusal to be reported', () => outcomes.length === 1);
    expect([outcomes[0].statusCode, outcomes[0].error?.code]).to.deep.equal([403, 'LB_ERR_WSGUARD_FORBIDDEN']);

    const allowed = await upgrade(lb.port, '/chat', { 'X-Ws-Token': 'letmein' });
    expect(allowed.head.split('\r\n')[0]).to.equal('HTTP/1.1 101 Switching Protocols');
    expect(await roundTrip(allowed.socket, 'hi')).to.equal('echo:hi');
    expect(ws.upgrades).to.equal(1);
    allowed.socket.end();
    await allowed.closed;
  });

  it('answers 500 naming the plugin when a beforeUpgrade tap throws something other than an lb error', async () => {
    const ws = await wsBackend();
    const lb = await servers.lb({ backends: [ws.backend.url], plugins: [GUARD] });
    const failed = await upgrade(lb.port, '/chat', { 'X-Ws-Token': 'throw' });
    expect(failed.head.split('\r\n')[0]).to.equal('HTTP/1.1 500 Internal Server Error');
    expect((await failed.closed).split('\r\n\r\n')[1]).to.equal('500 Internal Server Error (LB_ERR_PLUGIN_HOOK_FAILED)\n');
    expect(lb.log.lines.some((l) => l.includes('Plugin "upgrade-guard" failed in hook beforeUpgrade: the guard tripped code=LB_ERR_PLUGIN_HOOK_FAILED path=/chat status=500'))).to.equal(true);
    expect(ws.upgrades).to.equal(0);
  });

  it('survives a client that resets its connection while a beforeUpgrade tap runs, and upgrades the next one', async () => {
    const ws = await wsBackend();
    const lb = await servers.lb({ backends: [ws.backend.url], plugins: [GUARD] });
    const socket = net.connect(lb.port, '127.0.0.1', () => socket.write(upgradeRequest('/chat', { 'X-Ws-Token': 'letmein', 'X-Ws-Hold': '1' })));
    socket.on('error', () => { /* the reset is ours */ });
    await until('the upgrade to reach the hook', () => held.length === 1);
    socket.resetAndDestroy();
    await until('lb to drop the reset connection', () => active(lb) === 0);
    held.shift()!();
    const next = await upgrade(lb.port, '/chat', { 'X-Ws-Token': 'letmein' });
    expect(next.head.split('\r\n')[0]).to.equal('HTTP/1.1 101 Switching Protocols');
    expect(ws.upgrades).to.equal(1);
    next.socket.end();
    await next.closed;
  });
});
