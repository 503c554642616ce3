import type { ByteStore } from './bytes/types.js';
import { checkSetting, ConfigError, DEFAULTS, type ServerConfig } from './config/config.js';
import type { Locker } from './lock/types.js';
import type { UpwireHooks } from './model/hooks.js';
import type { Logger } from './observe/log.js';
import type { FileIndex, UploadStateStore } from './store/types.js';

/*
 * What createUpwire takes, and the check that refuses what it does not know: a misspelt limit must
 * not be silently left at its default.
 */

/** Settings of an embedded upwire: those of `upwire serve` but the listening ones, all optional. */
export type UpwireSettings = Omit<ServerConfig, 'port' | 'host' | 'logLevel'>;

export interface UpwireOptions extends Partial<UpwireSettings> {
  hooks?: UpwireHooks;
  /** A pino logger; by default JSON lines at LOG_LEVEL info. */
  logger?: Logger;
  /**
   * Stores to use instead of the embedded ones (LevelDB under dbDir, files under uploadDir, locks in
   * this process). Stores given here are the caller's to open before and close after; upwire opens
   * and closes only those it creates.
   */
  stores?: Partial<{ uploads: UploadStateStore; files: FileIndex; bytes: ByteStore; locker: Locker }>;
  /** The host the server listens on, when upwire serve runs it: it is one of the host names answered without a token. */
  host?: string;
}

const KNOWN_OPTIONS = new Set<string>([...Object.keys(DEFAULTS), 'hooks', 'logger', 'stores']);
const KNOWN_HOOKS = new Set<string>(['authorize', 'onUploadCreate', 'onUploadComplete', 'onFileDeleted']);
const LISTENING = new Set(['port', 'logLevel']);

/** The settings an upwire runs with: the defaults, and each option given held to its setting's rules. Throws ConfigError. */
export function settingsOf(options: UpwireOptions): UpwireSettings & { host: string } {
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key) || LISTENING.has(key)) throw new ConfigError(`unknown option ${JSON.stringify(key)} for createUpwire`);
  }
  for (const [name, hook] of Object.entries(options.hooks ?? {})) {
    if (!KNOWN_HOOKS.has(name)) throw new ConfigError(`unknown hook ${JSON.stringify(name)} (known: ${[...KNOWN_HOOKS].join(', ')})`);
    if (hook !== undefined && typeof hook !== 'function') throw new ConfigError(`hook ${name} must be a function`);
  }
  const merged: Record<string, unknown> = { ...DEFAULTS };
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || key === 'hooks' || key === 'logger' || key === 'stores') continue;
    const expected = DEFAULTS[key as keyof ServerConfig];
    if (expected !== undefined && typeof value !== typeof expected) throw new ConfigError(`option ${key} must be a ${typeof expected}`);
    checkSetting(key as keyof ServerConfig, value);
    merged[key] = value;
  }
  return merged as unknown as UpwireSettings & { host: string };
}

/**
 * What the stores must be able to do in the mode configured, checked when upwire starts rather than
 * found at the first merge (as tusd's composer checks its store's capabilities).
 */
export function checkStores(bytes: ByteStore, { severalNodes, fsync, verify }: { severalNodes: boolean; fsync: boolean; verify: 'received' | 'disk' }): string[] {
  const { readBack, durableOnFlush } = bytes.capabilities;
  // VERIFY=disk hashes the partial bytes read back at merge.
  if (!readBack && verify === 'disk') throw new ConfigError('VERIFY=disk reads the bytes of an upload back, and this byte store cannot (object storage): use VERIFY=received');
  // Several nodes, and a store that cannot read back, verify a sealed copy (session.ts).
  if ((severalNodes || !readBack) && !bytes.seal) {
    throw new ConfigError(`${severalNodes ? 'REDIS_URL: several nodes need' : 'a byte store that cannot read back needs'} to seal a copy of an upload (ByteStore.seal), and the one given cannot`);
  }
  return fsync && !durableOnFlush ? ['FSYNC is on, but the byte store cannot make writes durable (capabilities.durableOnFlush): acknowledged chunks may be lost in a power cut'] : [];
}
