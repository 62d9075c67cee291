import { expect } from 'chai';
import http from 'node:http';
import net from 'node:net';
import { isReserved, LbError, normalisePath } from '../../core/index.js';
import { endStream } from '../fixtures/plugins/route-demo.js';
import { request, serversPerTest, startLb, type SimpleResponse } from '../support/servers.js';

const DEMO = './test/fixtures/plugins/route-demo.ts';
const CLASH = './test/fixtures/plugins/route-clash.ts';

/**
 * Sends `text` as is on a fresh connection (so that no client normalises the URL) and
 * resolves with the response's status line and body (de-chunked) once lb closes.
 */
function raw(port: number, text: string): Promise<{ status: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let got = '';
    socket.on('data', (c: Buffer) => { got += c.toString('latin1'); });
    socket.on('close', () => {
      const end = got.indexOf('\r\n\r\n');
      const head = got.slice(0, end);
      let body = got.slice(end + 4);
      if (/\r\ntransfer-encoding: chunked/i.test(head)) {
        let plain = '';
        for (let at = 0, size; (size = parseInt(body.slice(at), 16)) > 0; at = body.indexOf('\r\n', at) + 2 + size + 2) {
          const start = body.indexOf('\r\n', at) + 2;
          plain += body.slice(start, start + size);
        }
        body = plain;
      }
      resolve({ status: head.split('\r\n')[0], body });
    });
    socket.on('error', reject);
  });
}

/** A GET on a fresh connection with `target` written exactly as given. */
const rawGet = (port: number, target: string) => raw(port, `GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);

const notFound = '404 Not Found (LB_ERR_ROUTE_NOT_FOUND)\n';

describe('normalisePath and isReserved', () => {
  // [raw request target, the path a backend could read, whether lb keeps it from the backends]
  const table: Array<[string, string, boolean]> = [
    ['/.lb/health', '/.lb/health', true],
    ['/.lb', '/.lb', true],
    ['/.lb?x=1', '/.lb', true],
    ['/.lb#frag', '/.lb', true],
    ['/.LB/Health', '/.lb/health', true],
    ['/%2elb/x', '/.lb/x', true],
    ['/%2Elb%2Fx', '/.lb/x', true],
    ['/.l%62/x', '/.lb/x', true],
    ['/.lb%2f', '/.lb/', true],
    ['/%252elb/x', '/.lb/x', true],
    ['/.lb;jsessionid=1/x', '/.lb/x', true],
    ['/a;b/c', '/a/c', false],
    ['//.lb/x', '/.lb/x', true],
    ['///.lb//x', '/.lb/x', true],
    ['/\\.lb\\x', '/.lb/x', true],
    ['/%5c.lb%5cx', '/.lb/x', true],
    ['/./.lb/x', '/.lb/x', true],
    ['/a/../.lb/x', '/.lb/x', true],
    ['/a/b/../../.lb/x', '/.lb/x', true],
    ['/%2e%2e/%2e%2e/.lb/x', '/.lb/x', true],
    ['/a/%2e%2e/.lb/x', '/.lb/x', true],
    ['/a/..%2f.lb/x', '/.lb/x', true],
    ['http://a/.lb/x', '/.lb/x', true],
    ['HTTP://A/.LB/X?q', '/.lb/x', true],
    // An escape that does not decode as UTF-8 must not hide the others: backends decode byte by byte.
    ['/%2elb/x%ff', '/.lb/x\u00ff', true],
    ['/.%6cb/x%ff', '/.lb/x\u00ff', true],
    ['/.%6Cb/%zz', '/.lb/%zz', true],
    ['/', '/', false],
    ['/api/items?id=3', '/api/items', false],
    ['/.lbx', '/.lbx', false],
    ['/.lb-not', '/.lb-not', false],
    ['/a/.lb/x', '/a/.lb/x', false],
    ['/x?next=/.lb/', '/x', false],
    ['/x#/.lb/', '/x', false],
    ['/%2elbx', '/.lbx', false],
    ['/.well-known/acme', '/.well-known/acme', false],
    ['http://a/x', '/x', false],
    ['http://a', '/', false],
    ['*', '/', false],
  ];

  for (const [url, path, reserved] of table) {
    it(`reads ${JSON.stringify(url)} as ${JSON.stringify(path)}, ${reserved ? '' : 'not '}reserved`, () => {
      expect(normalisePath(url)).to.equal(path);
      expect(isReserved(url)).to.equal(reserved);
    });
  }
});

describe('reserved routes', () => {
  const servers = serversPerTest();

  it('serves a claimed route from its plugin, with GET and HEAD by default, and never asks a backend', async () => {
    const backend = await servers.backend('b');
    const lb = await servers.lb({ backends: [backend.url], plugins: [DEMO] });
    const hello = await request(lb.url + '/.lb/demo/hello');
    expect([hello.status, hello.body]).to.deep.equal([200, 'hello from route-demo']);
    expect(hello.headers).to.include({ 'x-route': 'hello', 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'content-length': '21' });
    const head = await request(lb.url + '/.lb/demo/hello', { method: 'HEAD' });
    expect([head.status, head.body]).to.deep.equal([200, '']);
    expect(backend.hits).to.equal(0);
  });

  it('answers 404 to an unclaimed path under /.lb/ without sending it to a backend, and serves the next request', async () => {
    const backend = await servers.backend('b');
    const lb = await servers.lb({ backends: [backend.url], plugins: [DEMO] });
    for (const path of ['/.lb/nothing-here', '/.lb/demo', '/.lb/demo/hello/more', '/.lb/demo/filesx']) {
      const response = await request(lb.url + path);
      expect([path, response.status, response.body]).to.deep.equal([path, 404, notFound]);
    }
    expect(backend.hits).to.equal(0);
    expect(lb.log.lines.some((l) => l.includes(' warn  [lb] No lb route at /.lb/nothing-here. code=LB_ERR_ROUTE_NOT_FOUND method=GET path=/.lb/nothing-here status=404'))).to.equal(true);
    expect((await request(lb.url + '/next')).status).to.equal(200);
    expect(backend.hits).to.equal(1);
  });

  describe('with disguised paths, sent raw', () => {
    const disguises = [
      '/.LB/demo/hello', '/%2elb/x', '/%2Elb%2Fx', '/.l%62/x', '//.lb/x', '///.lb//x', '/\\.lb\\x', '/%5c.lb/x',
      '/./.lb/x', '/a/../.lb/x', '/%2e%2e/.lb/x', '/a/..%2f.lb/x', '/.lb', '/.lb?x=1', '/.%6cb/x%ff', '/%2elb/x%zz',
      'http://a/.lb/x', 'HTTP://A/.LB/X',
    ];
    for (const target of disguises) {
      it(`keeps GET ${target} from the backends, answers 404, and serves the next request`, async () => {
        const backend = await servers.backend('b');
        const lb = await servers.lb({ backends: [backend.url] });
        const { status, body } = await rawGet(lb.port, target);
        expect(status).to.equal('HTTP/1.1 404 Not Found');
        expect(body).to.equal(notFound);
        expect(backend.hits).to.equal(0);
        const next = await rawGet(lb.port, '/next');
        expect(next.status).to.equal('HTTP/1.1 200 OK');
        expect(JSON.parse(next.body)).to.deep.equal({ backend: 'b', path: '/next' });
        expect(backend.hits).to.equal(1);
      });
    }

    it('serves a claimed route however its path is disguised', async () => {
      const backend = await servers.backend('b');
      const lb = await servers.lb({ backends: [backend.url], plugins: [DEMO] });
      for (const target of ['/.LB/Demo/Hello', '/%2elb/demo/hello', '//.lb/demo//hello', '/x/../.lb/demo/./hello', 'http://a/.lb/demo/hello?q']) {
        const { status, body } = await rawGet(lb.port, target);
        expect([target, status, body]).to.deep.equal([target, 'HTTP/1.1 200 OK', 'hello from route-demo']);
      }
      expect(backend.hits).to.equal(0);
    });

    it('sends paths that only look like /.lb/ to the backend unchanged', async () => {
      const backend = await servers.backend('b');
      const lb = await servers.lb({ backends: [backend.url] });
      for (const target of ['/.lbx', '/a/.lb/x', '/x?next=/.lb/', '/%2elbx']) {
        const { status, body } = await rawGet(lb.port, target);
        expect(status).to.equal('HTTP/1.1 200 OK');
        expect(JSON.parse(body)).to.deep.equal({ backend: 'b', path: target });
      }
      expect(backend.hits).to.equal(4);
    });

    it('never tunnels a WebSocket upgrade under /.lb/ to a backend', async () => {
      const backend = await servers.backend('b');
      let upgrades = 0;
      backend.server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
        upgrades++;
        socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      });
      const lb = await servers.lb({ backends: [backend.url], plugins: [DEMO] });
      for (const target of ['/.lb/admin', '/%2elb/admin', '/.lb/demo/hello']) {
        const { status, body } = await raw(lb.port, `GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
        expect([target, status, body]).to.deep.equal([target, 'HTTP/1.1 404 Not Found', notFound]);
      }
      expect([upgrades, backend.hits]).to.deep.equal([0, 0]);
      expect((await request(lb.url + '/next')).status).to.equal(200);
    });
  });

  it('answers 405 with Allow to a method the route does not serve, and upper-cases the methods it lists', async () => {
    const backend = await servers.backend('b');
    const lb = await servers.lb({ backends: [backend.url], plugins: [DEMO] });
    const get = await request(lb.url + '/.lb/demo/echo');
    expect([get.status, get.headers.allow, get.body]).to.deep.equal([405, 'POST, PUT', '405 Method Not Allowed (LB_ERR_ROUTE_METHOD)\n']);
    expect(lb.log.lines.some((l) => l.includes(' warn  [lb] Method GET is not allowed on /.lb/demo/echo; it serves POST, PUT. code=LB_ERR_ROUTE_METHOD'))).to.equal(true);
    const post = await request(lb.url + '/.lb/demo/hello', { method: 'POST', body: 'x' });
    expect([post.status, post.headers.allow]).to.deep.equal([405, 'GET, HEAD']);
    const put = await request(lb.url + '/.lb/demo/echo?q=7', { method: 'PUT', body: 'hi' });
    expect(put.status).to.equal(201);
    expect(put.headers['content-type']).to.equal('application/json');
    expect(JSON.parse(put.body)).to.deep.equal({ method: 'PUT', got: 'hi', q: '7' });
    expect(backend.hits).to.equal(0);
  });

  it('bounds readBody at the route\'s maxBodyBytes with 413, whether the length is declared or the body is chunked', async () => {
    const backend = await servers.backend('b');
    const lb = await servers.lb({ backends: [backend.url], plugins: [DEMO] });
    const fits = await request(lb.url + '/.lb/demo/echo', { method: 'POST', body: 'x'.repeat(16) });
    expect([fits.status, JSON.parse(fits.body).got]).to.deep.equal([201, 'x'.repeat(16)]);
    const declared = await request(lb.url + '/.lb/demo/echo', { method: 'POST', body: 'x'.repeat(17) });
    expect([declared.status, declared.body]).to.deep.equal([413, '413 Payload Too Large (LB_ERR_ROUTE_BODY_TOO_LARGE)\n']);
    const chunked = await new Promise<SimpleResponse>((resolve, reject) => {
      const req = http.request(lb.url + '/.lb/demo/echo', { method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => { body += c; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.write('x'.repeat(10));
      req.end('x'.repeat(10));
    });
    expect([chunked.status, chunked.body]).to.deep.equal([413, '413 Payload Too Large (LB_ERR_ROUTE_BODY_TOO_LARGE)\n']);
    expect(lb.log.lines.filter((l) => l.includes(' warn  [lb] The request body for /.lb/demo/echo is larger than the 16 bytes its handler accepts. code=LB_ERR_ROUTE_BODY_TOO_LARGE'))).to.have.length(2);
    expect(backend.hits).to.equal(0);
  });

  it('answers 500 naming the plugin and the route when a handler throws, and only that request fails', async () => {
    const backend = await servers.backend('b');
    const lb = await servers.lb({ backends: [backend.url], plugins: [DEMO] });
    const thrown = await request(lb.url + '/.lb/demo/throws');
    expect([thrown.status, thrown.body]).to.deep.equal([500, '500 Internal Server Error (LB_ERR_PLUGIN_HOOK_FAILED)\n']);
    expect(lb.log.lines.some((l) => l.includes(' error [lb] Plugin "route-demo" failed in hook route /.lb/demo/throws: the demo route broke code=LB_ERR_PLUGIN_HOOK_FAILED method=GET path=/.lb/demo/throws status=500'))).to.equal(true);
    const silent = await request(lb.url + '/.lb/demo/nothing');
    expect(silent.status).to.equal(500);
    expect(lb.log.lines.some((l) => l.includes('Plugin "route-demo" failed in hook route /.lb/demo/nothing: the handler neither returned a response nor wrote one'))).to.equal(true);
    // An lb error with a status keeps it.
    const teapot = await request(lb.url + '/.lb/demo/teapot');
    expect([teapot.status, teapot.body]).to.deep.equal([418, '418 I\'m a Teapot (LB_ERR_ROUTEDEMO_TEAPOT)\n']);
    expect((await request(lb.url + '/.lb/demo/hello')).status).to.equal(200);
    expect((await request(lb.url + '/app')).status).to.equal(200);
  });

  it('answers 504 when a handler neither answers nor starts its response within the route\'s timeoutMs', async () => {
    const backend = await servers.backend('b');
    const lb = await servers.lb({ backends: [backend.url], plugins: [{ use: DEMO, options: { timeoutMs: 200 } }] });
    const stalled = await request(lb.url + '/.lb/demo/stall');
    expect([stalled.status, stalled.body]).to.deep.equal([504, '504 Gateway Timeout (LB_ERR_ROUTE_TIMEOUT)\n']);
    expect(lb.log.lines.some((l) => l.includes(' warn  [lb] Plugin "route-demo" did not answer /.lb/demo/stall within 200 ms. code=LB_ERR_ROUTE_TIMEOUT'))).to.equal(true);
    expect(backend.hits).to.equal(0);
  });

  it('lets a handler that started its response stream past timeoutMs', async () => {
    const backend = await servers.backend('b');
    const lb = await servers.lb({ backends: [backend.url], plugins: [{ use: DEMO, options: { timeoutMs: 200 } }] });
    const streamed = new Promise<{ status: number; body: string }>((resolve, reject) => {
      http.get(lb.url + '/.lb/demo/stream', { agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => { body += c; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      }).on('error', reject);
    });
    while (!endStream) await new Promise((r) => setTimeout(r, 5));
    // A route with the same timeout, asked later, has timed out: so has the stream's.
    expect((await request(lb.url + '/.lb/demo/stall')).status).to.equal(504);
    endStream();
    expect(await streamed).to.deep.equal({ status: 200, body: 'first;last' });
  });

  it('serves every path under a prefix route, normalised, with its query', async () => {
    const backend = await servers.backend('b');
    const lb = await servers.lb({ backends: [backend.url], plugins: [DEMO] });
    for (const target of ['/.lb/demo/files/a/b?q=1', '/.lb/demo/files/A%2Fb?q=1', '/.lb/demo/files/x/../a//b?q=1']) {
      const { status, body } = await rawGet(lb.port, target);
      expect(status).to.equal('HTTP/1.1 200 OK');
      expect(JSON.parse(body)).to.deep.equal({ path: '/.lb/demo/files/a/b', q: '1' });
    }
    expect(backend.hits).to.equal(0);
  });

  describe('claims', () => {
    const startWith = async (plugins: unknown[]) => {
      try {
        const lb = await startLb({ backends: ['http://127.0.0.1:1'], plugins });
        await lb.close();
      } catch (e) {
        expect(e).to.be.instanceOf(LbError);
        return `${(e as LbError).code}: ${(e as LbError).message}`;
      }
      return 'started';
    };

    const conflicts: Array<[string, unknown[], string]> = [
      ['the same path', [DEMO, { use: CLASH, options: { path: '/.lb/demo/hello' } }], '"route-demo" and "route-clash" both claim /.lb/demo/hello.'],
      ['a path inside another\'s prefix', [DEMO, { use: CLASH, options: { path: '/.lb/demo/files/x' } }], '"route-demo" and "route-clash" both claim /.lb/demo/files/ and /.lb/demo/files/x.'],
      ['a prefix over another\'s path', [{ use: CLASH, options: { path: '/.lb/demo/files/x' } }, DEMO], '"route-clash" and "route-demo" both claim /.lb/demo/files/x and /.lb/demo/files/.'],
      ['the same prefix', [DEMO, { use: CLASH, options: { path: '/.lb/demo/files/', prefix: true } }], '"route-demo" and "route-clash" both claim /.lb/demo/files/.'],
      ['a prefix inside another\'s prefix', [DEMO, { use: CLASH, options: { path: '/.lb/demo/files/deep/', prefix: true } }], '"route-demo" and "route-clash" both claim /.lb/demo/files/ and /.lb/demo/files/deep/.'],
      ['a prefix around another\'s prefix', [DEMO, { use: CLASH, options: { path: '/.lb/demo/', prefix: true } }], '"route-demo" and "route-clash" both claim /.lb/demo/files/ and /.lb/demo/.'],
    ];
    for (const [what, plugins, message] of conflicts) {
      it(`refuses to start when two plugins claim ${what}, naming both`, async () => {
        expect(await startWith(plugins)).to.equal(`LB_ERR_ROUTE_CONFLICT: Plugins ${message}`);
      });
    }

    it('names the plugins in the order they claimed, and starts when claims only look alike', async () => {
      expect(await startWith([{ use: CLASH, options: { path: '/.lb/demo/hello' } }, DEMO])).to.equal('LB_ERR_ROUTE_CONFLICT: Plugins "route-clash" and "route-demo" both claim /.lb/demo/hello.');
      for (const path of ['/.lb/demo/hello2', '/.lb/demo/files', '/.lb/demo/file/']) {
        expect(await startWith([DEMO, { use: CLASH, options: { path } }]), path).to.equal('started');
      }
    });

    it('refuses a path outside /.lb/ or not in normal form', async () => {
      const normal = 'write it in normal form: lower case, no query, dot segments, escapes or repeated slashes';
      const cases: Array<[{ path: string; prefix?: boolean }, string]> = [
        [{ path: '/lb/x' }, 'claims /lb/x: reserved routes live under /.lb/'],
        [{ path: '/.lb/' }, 'claims /.lb/: reserved routes live under /.lb/'],
        [{ path: '/.lb/X' }, `claims /.lb/X: ${normal}`],
        [{ path: '/.lb/a//b' }, `claims /.lb/a//b: ${normal}`],
        [{ path: '/.lb/a/../b' }, `claims /.lb/a/../b: ${normal}`],
        [{ path: '/.lb/a?b' }, `claims /.lb/a?b: ${normal}`],
        [{ path: '/.lb/%61' }, `claims /.lb/%61: ${normal}`],
        [{ path: '/.lb/a', prefix: true }, 'claims /.lb/a: a prefix ends with /'],
      ];
      for (const [options, message] of cases) {
        expect(await startWith([{ use: CLASH, options }])).to.equal(`LB_ERR_ROUTE_INVALID: Plugin "route-clash" ${message}`);
      }
    });

    it('refuses claims once the pipeline is sealed', async () => {
      const lb = await servers.lb({ backends: ['http://127.0.0.1:1'] });
      expect(() => lb.lb.pipeline.routes.claim({ path: '/.lb/late', handler: () => ({ body: 'late' }) })).to.throw(LbError,
        'Cannot tap hook routes.claim(/.lb/late) as "unknown": the pipeline is sealed once lb starts.');
      expect((await request(lb.url + '/.lb/late')).status).to.equal(404);
    });
  });
});
