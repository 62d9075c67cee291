import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startChild, type Child } from './process.js';

/** Where a peer proxy listens and which backends it balances across (host:port, loopback). */
export interface PeerOptions {
  /** Path of the binary (from `ensureTool`). */
  binary: string;
  port: number;
  /** Backends as "127.0.0.1:port". */
  backends: string[];
  /** A private folder for the peer's config, pid, logs and temp files. */
  dir: string;
}

/**
 * The head of every nginx.conf the benchmarks write: one worker, no daemon, no access
 * log, every file under `dir`; the caller goes on inside the `http` block.
 */
export function nginxHead(dir: string, workerConnections = 4096): string {
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections ${workerConnections}; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;`;
}

/** nginx.conf for one worker, round robin, upstream keep-alive, no access log, everything under `dir`. */
export function nginxConfig(o: Omit<PeerOptions, 'binary'>): string {
  const d = o.dir;
  return `${nginxHead(d)}
  upstream backends {
${o.backends.map((b) => `    server ${b};`).join('\n')}
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${o.port};
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** haproxy.cfg for one thread, round robin, connection reuse to the backends. */
export function haproxyConfig(o: Omit<PeerOptions, 'binary' | 'dir'>): string {
  return `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend bench
  bind 127.0.0.1:${o.port}
  default_backend backends
backend backends
  balance roundrobin
  http-reuse always
${o.backends.map((b, i) => `  server b${i + 1} ${b}`).join('\n')}
`;
}

/** Starts nginx in the foreground (1 worker) with a config written to `dir`. */
export function startNginx(o: PeerOptions): Child {
  mkdirSync(o.dir, { recursive: true });
  const conf = path.join(o.dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(o));
  return startChild('nginx', o.binary, ['-p', o.dir, '-c', conf, '-e', path.join(o.dir, 'error.log')]);
}

/** Starts HAProxy in the foreground (1 thread) with a config written to `dir`. */
export function startHaproxy(o: PeerOptions): Child {
  mkdirSync(o.dir, { recursive: true });
  const conf = path.join(o.dir, 'haproxy.cfg');
  writeFileSync(conf, haproxyConfig(o));
  return startChild('haproxy', o.binary, ['-db', '-f', conf]);
}
