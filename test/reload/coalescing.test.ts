import { expect } from 'chai';
import { createLoadBalancer, type LoadBalancer, type ResolvedConfig } from '../../core/index.js';
import { captureLog, closeAfterEach, request } from '../support/servers.js';
import { resolveRc, startCountingBackend, untimed, type CountingBackend } from './helpers.js';

describe('LoadBalancer.reload asked for again while a reload runs', () => {
  let a: CountingBackend | undefined;
  let b: CountingBackend | undefined;
  let c: CountingBackend | undefined;
  let lb: LoadBalancer | undefined;
  closeAfterEach(() => [lb, a, b, c]);

  it('runs ten reloads asked for at once as two, the second with the latest source, and answers every caller', async () => {
    [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => startCountingBackend(n)));
    const log = captureLog();
    lb = await createLoadBalancer(await resolveRc({ backends: [a.url] }), { logger: log.logger });
    const { url } = await lb.listen(0, '127.0.0.1');

    // Sources 0 to 8 alternate between b and a; the last one sends everything to c.
    const loaded: number[] = [];
    const source = (i: number) => async (): Promise<ResolvedConfig> => {
      loaded.push(i);
      return resolveRc({ backends: [(i === 9 ? c : i % 2 ? a : b)!.url] });
    };
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => lb!.reload(source(i))));

    expect(loaded).to.deep.equal([0, 9]);
    expect(results.map((r) => r.ok && r.generation)).to.deep.equal([2, 3, 3, 3, 3, 3, 3, 3, 3, 3]);
    expect(new Set(results.slice(1)).size).to.equal(1);
    expect(lb.generation.number).to.equal(3);
    expect(JSON.parse((await request(url)).body).backend).to.equal('c');
    expect(log.lines.map(untimed).map((l) => l.replace(/ ms=[\d.]+/, ''))).to.deep.equal([
      `info  [lb] reload: generation 2 serving generation=2 backendsAdded=${b.id} backendsRemoved=${a.id}`,
      `info  [lb] reload: generation 3 serving generation=3 backendsAdded=${c.id} backendsRemoved=${b.id}`,
    ]);
  });

  it('refuses a reload asked for once lb is shutting down, naming the reason', async () => {
    a = await startCountingBackend('a');
    lb = await createLoadBalancer(await resolveRc({ backends: [a.url] }), { logger: captureLog().logger });
    await lb.listen(0, '127.0.0.1');
    const closed = lb.close();
    const result = await lb.reload(() => resolveRc({ backends: [a!.url] }));
    await closed;
    expect(result.ok).to.equal(false);
    expect(result.generation).to.equal(1);
    expect(result.ok ? '' : `${result.error.message} (${result.error.code})`).to.equal('Cannot reload: lb is shutting down (LB_ERR_RELOAD_FAILED)');
  });
});
