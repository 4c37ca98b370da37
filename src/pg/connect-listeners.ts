// pg emits 'connect' for each new client, and what its listeners run there (a SET, say)
// lasts for the connection's life. The engine shows each new connection to JavaScript first
// (`onConnect`), and again after it reset the connection's session: then what the listeners
// ran the first time runs again, without a second 'connect' event.
import type { Client } from './client';

/** What the pool remembers per engine connection (pid, Client, uses, connect statements) is bounded. */
const MAX_REMEMBERED = 4096;

/** Sets `key` in `map`, forgetting the oldest entry when the map is full. */
export function remember<V>(map: Map<number, V>, key: number, value: V): void {
  if (!map.has(key) && map.size >= MAX_REMEMBERED) map.delete(map.keys().next().value as number);
  map.set(key, value);
}

/** The statements `connect` listeners ran, per connection. */
export class ConnectListeners {
  private readonly ran = new Map<number, { text: unknown; values: unknown }[]>();

  /**
   * Shows `client`'s connection to the listeners (`emitConnect`) the first time, recording
   * what they run on it; later (after a reset), runs that again instead.
   */
  async announce(client: Client, emitConnect: (client: Client) => void): Promise<void> {
    const id = client.connectionId ?? 0;
    const again = this.ran.get(id);
    const run = client.query.bind(client) as (config: unknown, values?: unknown, cb?: unknown) => unknown;
    if (again !== undefined) {
      for (const q of again) await run(q.text, q.values);
      return;
    }
    const ran: { text: unknown; values: unknown }[] = [];
    const pending: Promise<unknown>[] = [];
    client.query = ((config: unknown, values?: unknown, cb?: unknown) => {
      ran.push({ text: config, values: typeof values === 'function' ? undefined : values });
      const r = run(config, values, cb);
      if (r instanceof Promise) pending.push(r.catch(() => {}));
      return r;
    }) as typeof client.query;
    remember(this.ran, id, ran);
    emitConnect(client);
    await Promise.all(pending);
    delete (client as Partial<Client>).query;
  }
}
