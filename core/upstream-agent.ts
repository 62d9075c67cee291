import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { LbError } from './errors.js';

/** Time limits an agent enforces on connections and requests to one backend. */
export interface UpstreamTimeouts {
  connectMs: number;
  upstreamMs: number;
  upstreamIdleMs: number;
}

interface TimedAgent {
  readonly targetName: string;
  readonly timeouts: UpstreamTimeouts;
}

// `this` is the ClientRequest: one shared function instead of a closure per request.
function onUpstreamTimeout(this: http.ClientRequest): void {
  const agent = (this as unknown as { agent: TimedAgent }).agent;
  this.destroy(new LbError('LB_ERR_UPSTREAM_TIMEOUT', { target: agent.targetName, timeoutMs: agent.timeouts.upstreamMs }));
}

function armConnectTimeout(socket: Duplex & { connecting?: boolean }, agent: TimedAgent): void {
  if (!socket.connecting) return;
  const timer = setTimeout(() => {
    socket.destroy(new LbError('LB_ERR_UPSTREAM_CONNECT_TIMEOUT', { target: agent.targetName, timeoutMs: agent.timeouts.connectMs }));
  }, agent.timeouts.connectMs);
  const clear = () => clearTimeout(timer);
  socket.once('connect', clear);
  socket.once('close', clear);
}

function agentOptions(t: UpstreamTimeouts, maxSockets: number): http.AgentOptions {
  // Node copies the agent's options into every request's: set only what differs from
  // the defaults (keepAliveMsecs 1000, maxFreeSockets 256, scheduling 'lifo', no socket limit).
  const options: http.AgentOptions = {
    keepAlive: true,
    // The socket timeout of an idle kept-alive connection; requests set their own while active.
    timeout: t.upstreamIdleMs,
  };
  if (maxSockets > 0) options.maxSockets = maxSockets;
  return options;
}

type AddRequest = (req: http.ClientRequest, options: object) => void;
type CreateConnection = (options: object, cb?: (err: Error | null, socket: Duplex) => void) => Duplex;

/**
 * Builds the keep-alive agent for one backend. It enforces the connect timeout on
 * new connections and the upstream (read) timeout on every request, so that no
 * request to a backend goes without a time limit, whoever creates it.
 */
export function createUpstreamAgent(url: URL, timeouts: UpstreamTimeouts, maxSockets: number): http.Agent {
  const Base = url.protocol === 'https:' ? https.Agent : http.Agent;
  const agent = new Base(agentOptions(timeouts, maxSockets)) as http.Agent & TimedAgent & { addRequest: AddRequest; createConnection: CreateConnection };
  // A copy, so that a reload can change the limits of a live agent (updateUpstreamAgent).
  const limits = { ...timeouts };
  Object.assign(agent, { targetName: url.host, timeouts: limits });
  const addRequest = agent.addRequest.bind(agent);
  agent.addRequest = (req, options) => {
    req.setTimeout(limits.upstreamMs, onUpstreamTimeout);
    addRequest(req, options);
  };
  const createConnection = agent.createConnection.bind(agent);
  agent.createConnection = (options, cb) => {
    const socket = createConnection(options, cb);
    armConnectTimeout(socket, agent);
    return socket;
  };
  return agent;
}

/**
 * Applies new limits to a live agent (a reload): new requests and connections use
 * them; connections open now keep theirs until they close.
 */
export function updateUpstreamAgent(agent: http.Agent, timeouts: UpstreamTimeouts, maxSockets: number): void {
  const timed = agent as http.Agent & TimedAgent & { options: http.AgentOptions };
  Object.assign(timed.timeouts, { connectMs: timeouts.connectMs, upstreamMs: timeouts.upstreamMs, upstreamIdleMs: timeouts.upstreamIdleMs });
  timed.options.timeout = timeouts.upstreamIdleMs;
  agent.maxSockets = maxSockets > 0 ? maxSockets : Infinity;
}
