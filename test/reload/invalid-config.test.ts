import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadResolved, validateCommand } from '../../cli/commands.js';
import { createLoadBalancer, type LoadBalancer } from '../../core/index.js';
import { captureLog, closeAfterEach, request } from '../support/servers.js';
import { startCountingBackend, untimed, type CountingBackend } from './helpers.js';

describe('LoadBalancer.reload refusing an invalid configuration', () => {
  let dir: string;
  let rcFile: string;
  let a: CountingBackend | undefined;
  let b: CountingBackend | undefined;
  let lb: LoadBalancer | undefined;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lb-reload-'));
    rcFile = path.join(dir, '.lbrc.json');
  });
  closeAfterEach(() => [lb, a, b]);
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** The rc `lb run` started with: one backend, round robin, listening on 127.0.0.1:8080 (lb binds port 0 in tests). */
  const base = () => ({ listen: { host: '127.0.0.1', port: 8080 }, backends: [a!.url] });
  const writeRc = (rc: object) => writeFileSync(rcFile, JSON.stringify(rc, null, 2));
  /** Reloads as `lb run` does on SIGHUP: reads the rc file again and resolves it with the built-in plugins. */
  const reloadFromFile = () => lb!.reload(() => loadResolved({ config: rcFile }));
  /** What `lb validate --config rcFile` prints on stderr, and its exit status. */
  const validate = async () => {
    let err = '';
    const code = await validateCommand({ out: () => undefined, err: (t) => { err += t; } }, { config: rcFile });
    return { code, err };
  };

  async function start() {
    a = await startCountingBackend('a');
    b = await startCountingBackend('b');
    writeRc(base());
    const log = captureLog();
    lb = await createLoadBalancer(await loadResolved({ config: rcFile }), { logger: log.logger });
    const { url } = await lb.listen(0, '127.0.0.1');
    return { url, log };
  }

  /** Six requests, answered by the backends in this order. */
  const servedBy = async (url: string) => {
    const names: string[] = [];
    for (let i = 0; i < 6; i++) names.push(JSON.parse((await request(url)).body).backend);
    return names;
  };

  const where = () => path.relative(process.cwd(), rcFile);
  const cases = [
    {
      what: 'a value of the wrong type',
      rc: () => ({ ...base(), backends: [a!.url, b!.url], strategy: 'least-connections', timeouts: { connectMs: '5s' } }),
      code: 'LB_ERR_CONFIG_INVALID',
      message: () => [
        `reload refused; generation 1 keeps serving: Invalid configuration in ${where()} (LB_ERR_CONFIG_INVALID)`,
        ' - timeouts.connectMs: must be an integer; found "5s".',
        '   -> Connecting to a backend; past it the request gets 504 (nginx: proxy_connect_timeout).',
      ],
      validates: false,
    },
    {
      what: 'an unknown plugin',
      rc: () => ({ ...base(), backends: [a!.url, b!.url], plugins: ['passive-health', 'helth-check'] }),
      code: 'LB_ERR_CONFIG_INVALID',
      message: () => [
        `reload refused; generation 1 keeps serving: Invalid configuration in ${where()} (LB_ERR_CONFIG_INVALID)`,
        ' - plugins[1]: Plugin "helth-check" is neither built in nor an installed package or file. Did you mean "health-check"? (LB_ERR_PLUGIN_UNKNOWN)',
        '   -> Use a built-in name (`lb presets` shows them), install the npm package, or give a path starting with ./ relative to the rc file.',
      ],
      validates: false,
    },
    {
      what: 'another listen port',
      rc: () => ({ ...base(), listen: { host: '127.0.0.1', port: 8081 }, backends: [a!.url, b!.url] }),
      code: 'LB_ERR_RELOAD_LISTEN_CHANGED',
      message: () => ['reload refused; generation 1 keeps serving: Cannot reload: listen.port changed from 8080 to 8081; the listener stays where it is. (LB_ERR_RELOAD_LISTEN_CHANGED)'],
      validates: true,
    },
    {
      what: 'another listen host',
      rc: () => ({ ...base(), listen: { host: '0.0.0.0', port: 8080 }, backends: [a!.url, b!.url] }),
      code: 'LB_ERR_RELOAD_LISTEN_CHANGED',
      message: () => ['reload refused; generation 1 keeps serving: Cannot reload: listen.host changed from 127.0.0.1 to 0.0.0.0; the listener stays where it is. (LB_ERR_RELOAD_LISTEN_CHANGED)'],
      validates: true,
    },
  ];

  for (const c of cases) {
    it(`keeps generation 1 and its backends when the rc gets ${c.what}, and logs what failed and where`, async () => {
      const { url, log } = await start();
      const first = lb!.generation;
      expect(await servedBy(url)).to.deep.equal(['a', 'a', 'a', 'a', 'a', 'a']);

      writeRc(c.rc());
      const result = await reloadFromFile();
      expect(result.ok).to.equal(false);
      expect(result.generation).to.equal(1);
      expect(result.ok ? '' : result.error.code).to.equal(c.code);
      expect(lb!.generation).to.equal(first);
      expect(lb!.pool.targets.map((t) => t.id)).to.deep.equal([a!.id]);
      expect(await servedBy(url)).to.deep.equal(['a', 'a', 'a', 'a', 'a', 'a']);
      expect(b!.hits).to.equal(0);

      const lines = log.lines.map(untimed);
      const message = c.message();
      expect(lines).to.deep.equal([`error [lb] ${message.join('\n')} generation=1 code=${c.code}`]);
      // The problems are listed as `lb validate` lists them (which adds the general hint last).
      const validated = await validate();
      if (c.validates) {
        expect(validated.code).to.equal(0);
      } else {
        expect(validated.code).to.equal(2);
        const printed = validated.err.split('\n');
        expect(printed[0]).to.equal(`lb: ${message[0].replace('reload refused; generation 1 keeps serving: ', '')}`);
        expect(printed.slice(1, -1)).to.deep.equal(message.slice(1));
      }

      // Fixed, the same change goes through, as generation 2: a refusal uses up no generation number.
      writeRc({ ...base(), backends: [a!.url, b!.url] });
      const fixed = await reloadFromFile();
      expect(fixed.ok && fixed.generation).to.equal(2);
      expect(await servedBy(url)).to.deep.equal(['a', 'b', 'a', 'b', 'a', 'b']);
    });
  }
});
