// Registered model names for the language server, read from the registry's snapshot
// `.cairn/models.json` (written by the engine after every registry change). The language server
// never opens the SQLite store: it may run under Electron's Node, where the native module does not
// load. The file is read again whenever its modification time or size changes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelNameProvider } from '../spec/references';

type KnownModel = ReturnType<ModelNameProvider['models']>[number];

export class RegistryNames implements ModelNameProvider {
  private readonly file: string;
  private stamp = '';
  private known: KnownModel[] = [];

  /** `root` is the workspace folder; `log` hears about a snapshot that cannot be read. */
  constructor(
    root: string,
    private readonly log: (message: string) => void = () => undefined,
  ) {
    this.file = path.join(root, '.cairn', 'models.json');
  }

  models(): KnownModel[] {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(this.file);
    } catch {
      this.stamp = '';
      this.known = [];
      return this.known;
    }
    const stamp = `${stat.mtimeMs}:${stat.size}`;
    if (stamp === this.stamp) return this.known;
    this.stamp = stamp;
    try {
      this.known = modelsOfSnapshot(JSON.parse(fs.readFileSync(this.file, 'utf8')));
    } catch (error) {
      this.known = [];
      this.log(`Cairn: cannot read ${this.file}: ${error instanceof Error ? error.message : String(error)}`);
    }
    return this.known;
  }
}

/** The models of a parsed snapshot; entries of the wrong shape are left out. */
export function modelsOfSnapshot(value: unknown): KnownModel[] {
  const models = isRecord(value) ? value['models'] : undefined;
  if (!Array.isArray(models)) return [];
  const known: KnownModel[] = [];
  for (const entry of models as unknown[]) {
    if (!isRecord(entry) || typeof entry['name'] !== 'string') continue;
    const versions = Array.isArray(entry['versions'])
      ? (entry['versions'] as unknown[]).filter((version): version is number => Number.isInteger(version))
      : [];
    const aliases = isRecord(entry['aliases']) ? Object.keys(entry['aliases']) : [];
    known.push({ name: entry['name'], versions, aliases });
  }
  return known;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
