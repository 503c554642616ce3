import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A real slow uplink: a network namespace joined to this one by a veth pair, with a token bucket
 * (tc tbf) on the namespace's end, so what a client inside sends to the server outside crosses a
 * link of `rate`. The server listens on `hostAddress`; `spawnInside` starts a process in the namespace.
 */
export interface ShapedLink {
  /** The namespace's name (`ip netns exec <namespace> ...`). */
  namespace: string;
  hostAddress: string;
  spawnInside(command: string, args: string[]): ReturnType<typeof spawn>;
  /** Bytes the shaper sent and dropped, as tc reports them. */
  stats(): Promise<{ sent: number; dropped: number }>;
  remove(): Promise<void>;
}

let created = 0;

/** Why shaped links cannot be made here (not root, no iproute2, no namespaces), or undefined when they can. */
export async function shapedLinksUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'shaped links need Linux network namespaces';
  if (process.getuid?.() !== 0) return 'shaped links need root (ip netns, tc)';
  try {
    await run('ip', ['-V']);
    await run('tc', ['-V']);
  } catch {
    return 'shaped links need iproute2 (ip, tc)';
  }
  const probe = `upwprobe${process.pid}`;
  try {
    await run('ip', ['netns', 'add', probe]);
    await run('ip', ['netns', 'del', probe]);
  } catch (err) {
    return `cannot create a network namespace here: ${(err as Error).message.split('\n')[0]}`;
  }
  return undefined;
}

/** `rate` and `burst` as tc reads them: '2mbit', '512kbit', '4kb'. */
export async function createShapedLink(rate: string, { burst = '4kb', latency = '400ms' } = {}): Promise<ShapedLink> {
  const n = ++created;
  const id = `${process.pid % 10000}x${n}`;
  const ns = `upw${id}`;
  const hostIf = `uwh${id}`;
  const nsIf = `uwn${id}`;
  const subnet = `10.${100 + (process.pid % 100)}.${n}`;
  const hostAddress = `${subnet}.1`;
  const inside = (...args: string[]) => run('ip', ['netns', 'exec', ns, ...args]);
  const remove = async () => {
    await run('ip', ['netns', 'del', ns]).catch(() => {}); // takes the veth pair with it
    await run('ip', ['link', 'del', hostIf]).catch(() => {});
  };
  try {
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
    await run('ip', ['link', 'set', nsIf, 'netns', ns]);
    await run('ip', ['addr', 'add', `${hostAddress}/24`, 'dev', hostIf]);
    await run('ip', ['link', 'set', hostIf, 'up']);
    await inside('ip', 'addr', 'add', `${subnet}.2/24`, 'dev', nsIf);
    await inside('ip', 'link', 'set', nsIf, 'up');
    await inside('ip', 'link', 'set', 'lo', 'up');
    await inside('tc', 'qdisc', 'add', 'dev', nsIf, 'root', 'tbf', 'rate', rate, 'burst', burst, 'latency', latency);
  } catch (err) {
    await remove();
    throw err;
  }
  return {
    namespace: ns,
    hostAddress,
    spawnInside: (command, args) => spawn('ip', ['netns', 'exec', ns, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }),
    async stats() {
      const { stdout } = await inside('tc', '-s', 'qdisc', 'show', 'dev', nsIf);
      const match = /Sent (\d+) bytes \d+ pkt \(dropped (\d+)/.exec(stdout);
      return { sent: Number(match?.[1] ?? NaN), dropped: Number(match?.[2] ?? NaN) };
    },
    remove,
  };
}
