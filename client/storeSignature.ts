// Whether a workspace's store (.cairn/cairn.db) was written, as the views and the table need to know.
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The size and time of the store and of a non-empty write-ahead log: what a write changes and a read
 * does not (every reader, the views' own CLI reads included, creates and removes the log).
 */
export async function storeSignature(root: string): Promise<string> {
  const parts = await Promise.all(
    ['cairn.db', 'cairn.db-wal'].map((name) =>
      fs.promises.stat(path.join(root, '.cairn', name)).then(
        (stat) => (stat.size > 0 ? `${stat.size}@${stat.mtimeMs}` : '-'),
        () => '-',
      ),
    ),
  );
  return parts.join(' ');
}
