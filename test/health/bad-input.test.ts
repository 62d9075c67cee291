import { expect } from 'chai';
import { closeAfterEach, startLb, type TestLb } from '../support/servers.js';
import { getMany, startAgentBackend, waitFor, type AgentBackend, type HealthMode } from './helpers.js';

const FALL = 2;

/** Each kind of broken agent, and the reason its checks fail with. */
const CASES: Array<{ mode: HealthMode; what: string; reason: string }> = [
  { mode: 'garbage', what: 'cut-off JSON', reason: 'invalid JSON: Expected property name or \'}\' in JSON at position 25' },
  { mode: 'not-an-object', what: 'JSON that is not a report', reason: 'report is an array, not a JSON object' },
  { mode: 'html', what: 'an HTML page (wrong content type)', reason: 'content-type "text/html", expected application/json' },
  { mode: 'no-content-type', what: 'a report without a content type', reason: 'no content-type, expected application/json' },
  { mode: 'huge', what: 'a 10 MB streamed body', reason: 'body exceeds maxBodyBytes (65536)' },
  { mode: 'huge-declared', what: 'a declared 10 MB body', reason: `body of ${10 * 1024 * 1024} bytes exceeds maxBodyBytes (65536)` },
  { mode: 'hang', what: 'a response that never comes', reason: 'no complete response within 250 ms' },
];

describe('health-check plugin with broken agents', () => {
  let backends: AgentBackend[] = [];
  let lb: TestLb | undefined;
  closeAfterEach(() => [lb, ...backends]);

  for (const { mode, what, reason } of CASES) {
    it(`counts ${what} as a failed check with the reason "${reason}", and keeps serving`, async () => {
      backends = [await startAgentBackend('bad', mode), await startAgentBackend('good')];
      lb = await startLb({
        backends: backends.map((b) => b.url),
        strategy: 'round-robin',
        // A short timeout only where the case needs it: elsewhere a slow, busy machine must not fail the good backend.
        plugins: [{ use: 'health-check', options: { intervalMs: 100, timeoutMs: mode === 'hang' ? 250 : 1000, fall: FALL, rise: 2 } }],
      }, 'debug');
      const target = lb.lb.pool.get(`127.0.0.1:${backends[0].port}`)!;
      await waitFor(() => target.state === 'down', 3000, `${mode} agent to be taken down`);
      const full = `GET /.lb/health: ${reason}`;
      expect(target.reason).to.equal(`${full} (${FALL} failed checks in a row)`);
      const debugLines = lb.log.lines.filter((l) => l.includes(`debug [health-check] check of ${target.id} failed`));
      expect(debugLines.length).to.be.at.least(FALL);
      expect(debugLines[0]).to.include(`reason=${JSON.stringify(full)}`, debugLines.join('\n'));
      const good = lb.lb.pool.get(`127.0.0.1:${backends[1].port}`)!;
      expect(good.state).to.equal('up');
      const hits = backends[1].hits;
      expect(await getMany(lb.url, 6)).to.deep.equal(Array(6).fill(200));
      expect(backends[1].hits - hits).to.equal(6);
      if (mode === 'huge') expect(backends[0].hugeBodiesCompleted, 'huge bodies read to their end').to.equal(0);
    });
  }

  it('sends a path that looks like another host ("//host/x") to the backend itself, never elsewhere', async () => {
    const seen: string[] = [];
    backends = [await startAgentBackend('only')];
    backends[0].server.prependListener('request', (req) => seen.push(`${req.headers.host} ${req.url}`));
    lb = await startLb({
      backends: [backends[0].url],
      plugins: [{ use: 'health-check', options: { format: 'none', path: '//example.com/x', expectStatus: [200], intervalMs: 100, timeoutMs: 1000 } }],
    });
    await waitFor(() => seen.length >= 1, 2000, 'a check');
    expect(seen[0]).to.equal(`127.0.0.1:${backends[0].port} //example.com/x`);
  });

  it('rejects a check path that is not a path (an absolute URL), at validation', async () => {
    let error: unknown;
    try {
      await startLb({ backends: ['http://127.0.0.1:9'], plugins: [{ use: 'health-check', options: { path: 'http://evil.example/x' } }] });
    } catch (e) {
      error = e;
    }
    expect((error as Error).message).to.equal('Invalid configuration in (defaults; no rc file)');
    expect((error as { details: string[] }).details).to.deep.equal([
      ' - plugins[0].options.path: must match ^(/[^\\s]*)?$; found "http://evil.example/x".\n'
        + '   -> Path (and query) requested on the backend. "" picks the format\'s own: /.lb/health for lb-agent and none, /metrics?collect[]=cpu&collect[]=meminfo&collect[]=loadavg for prometheus.',
    ]);
  });
});
