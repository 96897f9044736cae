import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { NetworkViewBackend, NetworkViewReading } from '../network-zone.source';
import { parseFakeNetworkFile } from '../parsers/fake-network-file';

/**
 * The fake network backend (MAMORI_AGENT_NETWORK_BACKEND=fake): a real, selectable backend that
 * reads the host's addresses and DNS suffixes from a JSON file (format in
 * parsers/fake-network-file.ts), so a test or a demo moves the unchanged daemon between zones by
 * rewriting the file. It watches the file's folder (a file replaced by rename is seen too) and
 * asks for a re-read at once; the source's poll is the safety net where watching is not possible.
 * A missing or malformed file reads as no addresses and no suffixes (the host in no zone) with a
 * problem naming the file (after one more look 50 ms later, in case the file was half-written).
 */
const HALF_WRITTEN_RETRY_MS = 50;

export class FakeNetworkBackend implements NetworkViewBackend {
  readonly name = 'network:fake';

  constructor(private readonly path: string) {}

  async read(): Promise<NetworkViewReading> {
    const first = await this.readOnce();
    if (first.problems.length === 0) return first;
    // The watch may fire while a writer is half-way through the file: look once more before giving up.
    await new Promise((resolve) => setTimeout(resolve, HALF_WRITTEN_RETRY_MS));
    return this.readOnce();
  }

  private async readOnce(): Promise<NetworkViewReading> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      return { view: { addresses: [], dnsSuffixes: [] }, problems: [`fake network file ${this.path} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`] };
    }
    try {
      return { view: parseFakeNetworkFile(text), problems: [] };
    } catch (error) {
      return { view: { addresses: [], dnsSuffixes: [] }, problems: [`fake network file ${this.path}: ${(error as Error).message}`] };
    }
  }

  watch(changed: () => void): () => void {
    const name = basename(this.path);
    let watcher: FSWatcher;
    try {
      watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
        if (file === null || file.toString() === name) changed();
      });
    } catch {
      return () => undefined;
    }
    watcher.on('error', () => watcher.close());
    return () => watcher.close();
  }
}
