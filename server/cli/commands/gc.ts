// `cairn gc`: removes from the cache every object that no lock file of the workspace refers to.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ContentCache } from '../../engine/cache';
import { lockPathFor, readLock } from '../../engine/lockfile';
import { Workspace } from '../../spec/workspace';
import { rejectUnknownOptions } from '../args';
import type { Command } from '../args';

export const gcCommand: Command = {
  usage: ['gc                            Remove cached outputs that no lock file refers to.'],
  run({ root, json, args }) {
    rejectUnknownOptions(args);
    const workspace = new Workspace(root);
    const keep = new Set<string>();
    for (const pipeline of workspace.specs('pipeline')) {
      const lockPath = lockPathFor(pipeline);
      if (!fs.existsSync(lockPath)) continue;
      for (const stage of Object.values(readLock(lockPath).stages))
        for (const entry of [...(stage.outs ?? []), ...(stage.deps ?? [])]) keep.add(entry.md5);
    }
    const result = new ContentCache(root).gc(keep);
    if (json) process.stdout.write(`${JSON.stringify({ kept: keep.size, ...result })}\n`);
    else
      process.stdout.write(
        `Removed ${result.removedObjects} cached object${result.removedObjects === 1 ? '' : 's'} (${(result.freedBytes / 1e6).toFixed(1)} MB); kept what ${path.basename(root)}'s lock files refer to.\n`,
      );
    return 0;
  },
};
