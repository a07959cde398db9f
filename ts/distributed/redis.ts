/**
 * Connections to the Redis that holds the batch queue. One URL names it everywhere
 * (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS): the `--redis` flag, else
 * SEMREC_REDIS_URL, else the local default.
 *
 * The first connection fails fast with ERR_REDIS_UNAVAILABLE naming the URL (a typo should not hang a
 * command); once connected, a client waits through Redis restarts (commands queue until it is back),
 * because a restart is an event the batch layer is built to survive.
 */
import { Redis, type RedisOptions } from 'ioredis';

import { SemrecError } from '../errors';

/** Redis on this machine, on its standard port. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** Longest pause between reconnection attempts after Redis went away. */
const MAX_RECONNECT_DELAY_MS = 2000;
/** Time allowed for the first connection before the URL is reported unreachable. */
export const CONNECT_TIMEOUT_MS = 5000;

/** The URL a command uses: the flag, else SEMREC_REDIS_URL, else DEFAULT_REDIS_URL. */
export function redisUrl(flag?: string): string {
  return flag ?? process.env.SEMREC_REDIS_URL ?? DEFAULT_REDIS_URL;
}

/** The URL without its password, for messages. */
export function displayUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

function checkUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SemrecError(`--redis '${displayUrl(url)}' is not a URL (expected redis://host:port[/db])`, 'ERR_INVALID_ARG_VALUE');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new SemrecError(`--redis '${displayUrl(url)}' must start with redis:// or rediss://`, 'ERR_INVALID_ARG_VALUE');
  }
}

/**
 * A connected client. BullMQ requires `maxRetriesPerRequest: null` on connections it blocks on; every
 * client here has it, so a command issued while Redis restarts waits for it instead of failing.
 */
export async function connectRedis(url: string, options: { connectionName?: string } = {}): Promise<Redis> {
  checkUrl(url);
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: null,
    connectTimeout: CONNECT_TIMEOUT_MS,
    connectionName: options.connectionName,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), MAX_RECONNECT_DELAY_MS),
  } satisfies RedisOptions);
  let lastError: Error | undefined;
  const onError = (error: Error) => {
    lastError = error;
  };
  client.on('error', onError);
  try {
    await client.connect();
  } catch (cause) {
    client.disconnect();
    const reason = (lastError ?? (cause as Error)).message;
    throw new SemrecError(
      `cannot reach Redis at ${displayUrl(url)}: ${reason} (start redis-server, or pass --redis URL / set SEMREC_REDIS_URL)`,
      'ERR_REDIS_UNAVAILABLE',
      { cause },
    );
  }
  return client;
}

/** Closes a client, waiting for queued replies when Redis is there and dropping them when it is not. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    await client.quit().catch(() => client.disconnect());
  } else {
    client.disconnect();
  }
}
