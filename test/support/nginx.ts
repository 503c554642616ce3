import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './fixtures.js';
import { freePort, stopChild, untilReady } from './procs.js';

/** The recipe docs/operations.md documents and compose.yaml mounts: the tests run this very file. */
export const NGINX_TEMPLATE = fileURLToPath(new URL('../../../deploy/nginx.conf', import.meta.url));

/**
 * Debian's nginx (.ci/run installs it), or NGINX_PATH. /usr/sbin is searched too: it is not on a
 * normal user's PATH.
 */
export function nginxBinary(): string | undefined {
  if (process.env.NGINX_PATH) return existsSync(process.env.NGINX_PATH) ? process.env.NGINX_PATH : undefined;
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin'];
  return dirs.map((dir) => join(dir, 'nginx')).find((path) => existsSync(path));
}

/** Why nginx cannot run here, or undefined when it can. */
export function nginxUnavailable(): string | undefined {
  return nginxBinary() ? undefined : 'no nginx (apt-get install nginx, or set NGINX_PATH)';
}

export interface Nginx {
  /** http://127.0.0.1:<port>, without the prefix. */
  url: string;
  /** The access log's lines so far: `<method> <uri> <status> <upstream status>`. */
  accessLog(): Promise<string[]>;
  /** Stops nginx and removes its directory. */
  stop(): Promise<void>;
}

/**
 * deploy/nginx.conf with its placeholders filled in as the official image does from the environment
 * (compose.yaml sets UPWIRE_LISTEN and UPWIRE_UPSTREAM). A placeholder left over is an error: the
 * template and its users disagree.
 */
export function renderTemplate(template: string, values: { listen: string; upstream: string }): string {
  const text = template.replaceAll('${UPWIRE_LISTEN}', values.listen).replaceAll('${UPWIRE_UPSTREAM}', values.upstream);
  const left = /\$\{?UPWIRE_\w*\}?/.exec(text);
  if (left) throw new Error(`deploy/nginx.conf has a placeholder the test does not fill: ${left[0]}`);
  return text;
}

/**
 * The whole configuration around the template: one process in the foreground (no daemon, no master,
 * so stopping the child stops nginx), and every file nginx writes (pid, logs, temp bodies) in `dir`,
 * never the Debian package's /var/log/nginx or /run: it runs as any user, beside any other nginx.
 */
function mainConfig(dir: string): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log notice;
events { worker_connections 256; }
http {
  log_format upwire_test '$request_method $request_uri $status $upstream_status';
  access_log ${dir}/access.log upwire_test;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/upwire.conf;
}
`;
}

/** The `upstream` block's name when nginx balances several nodes. */
export const CLUSTER_UPSTREAM = 'upwire_nodes';

/**
 * The nodes as one `upstream`, balanced round-robin with no stickiness (no ip_hash, no hash, no
 * sticky cookie): any node must accept any chunk of any upload. `max_fails=1 fail_timeout=2s`: a
 * node that refuses one connection (killed) is left alone for 2 s, and the refused WebSocket
 * handshake goes on to the next node (proxy_next_upstream's default: error and timeout).
 */
export function upstreamBlock(upstreamUrls: readonly string[]): string {
  const servers = upstreamUrls.map((url) => `    server ${new URL(url).host} max_fails=1 fail_timeout=2s;\n`).join('');
  return `upstream ${CLUSTER_UPSTREAM} {\n${servers}}\n\n`;
}

/**
 * A real nginx on a free loopback port in front of `upstream`, configured by deploy/nginx.conf: one
 * upwire (its URL), or several (their URLs), for which the template's upstream is the name of an
 * `upstream` block written before it (see upstreamBlock).
 */
export async function startNginx(upstream: string | readonly string[]): Promise<Nginx> {
  const binary = nginxBinary();
  if (!binary) throw new Error(nginxUnavailable());
  if (typeof upstream !== 'string' && upstream.length === 0) throw new Error('startNginx: no upstream');
  const dir = await tempDir('upwire-nginx-');
  try {
    const template = await readFile(NGINX_TEMPLATE, 'utf8');
    const [block, name] = typeof upstream === 'string' ? ['', new URL(upstream).host] : [upstreamBlock(upstream), CLUSTER_UPSTREAM];
    await writeFile(join(dir.path, 'nginx.conf'), mainConfig(dir.path));
    // The port is free when asked for and taken by nginx a moment later: another process may take
    // it in between, so a start that finds it in use tries another.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      await writeFile(join(dir.path, 'upwire.conf'), block + renderTemplate(template, { listen: `127.0.0.1:${port}`, upstream: name }));
      const child = spawn(binary, ['-p', `${dir.path}/`, '-c', join(dir.path, 'nginx.conf'), '-e', join(dir.path, 'error.log')], { stdio: 'ignore' });
      const started = await listening(child, port);
      if (started === true) return running(child, port, dir);
      const log = await readFile(join(dir.path, 'error.log'), 'utf8').catch(() => '');
      if (attempt < 3 && log.includes('Address already in use')) continue;
      throw new Error(`nginx did not start (${started}): ${log.trim().split('\n').slice(-5).join('\n')}`);
    }
  } catch (err) {
    await dir.remove();
    throw err;
  }
}

function running(child: ChildProcess, port: number, dir: { path: string; remove(): Promise<void> }): Nginx {
  return {
    url: `http://127.0.0.1:${port}`,
    async accessLog() {
      const text = await readFile(join(dir.path, 'access.log'), 'utf8').catch(() => '');
      return text.split('\n').filter(Boolean);
    },
    async stop() {
      await stopChild(child); // SIGTERM is nginx's fast shutdown (SIGQUIT would wait for open WebSockets)
      await dir.remove();
    },
  };
}

/** True once nginx accepts connections on `port`; otherwise why not (it exited, or took too long). */
function listening(child: ChildProcess, port: number): Promise<true | string> {
  return untilReady(child, () => accepts(port), 'not listening');
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}


