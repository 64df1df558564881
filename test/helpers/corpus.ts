// The shared corpus of real DVC pipelines, laid out at the paths they had in their repositories
// (SOURCES.md gives them), so that `wdir: ..` and `../` deps resolve as they did there.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const CORPUS = path.resolve(__dirname, '../../../shared/corpus/dvc');

export interface CorpusEntry {
  /** The folder name in the corpus, e.g. `09-BlueBrain__morphoclass`. */
  id: string;
  /** Absolute path of the pipeline in the laid-out repository. */
  pipeline: string;
  /** The laid-out repository root. */
  root: string;
}

/** Copies every corpus entry into its own temporary repository at its original path. */
export function layOutCorpus(): CorpusEntry[] {
  const sources = fs.readFileSync(path.join(CORPUS, 'SOURCES.md'), 'utf8');
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-corpus-'));
  const entries: CorpusEntry[] = [];
  for (const line of sources.split('\n')) {
    const match = /^\| (\d\d) \| [^|]+ \| [^|]+ \| ([^|]+) \|/.exec(line);
    if (!match) continue;
    const number = match[1] ?? '';
    const id = fs.readdirSync(CORPUS).find((name) => name.startsWith(`${number}-`));
    if (!id) continue;
    const paths = [...(match[2] ?? '').matchAll(/`([^`]+)`/g)].map((found) => found[1] ?? '');
    const pipelinePath = paths.find((candidate) => candidate.endsWith('dvc.yaml')) ?? 'dvc.yaml';
    const root = path.join(base, id);
    const pipeline = path.join(root, pipelinePath);
    fs.mkdirSync(path.dirname(pipeline), { recursive: true });
    fs.copyFileSync(path.join(CORPUS, id, 'dvc.yaml'), pipeline);
    const params = paths.find((candidate) => candidate.endsWith('params.yaml'));
    if (params && fs.existsSync(path.join(CORPUS, id, 'params.yaml'))) {
      fs.mkdirSync(path.dirname(path.join(root, params)), { recursive: true });
      fs.copyFileSync(path.join(CORPUS, id, 'params.yaml'), path.join(root, params));
    }
    entries.push({ id, pipeline, root });
  }
  return entries;
}
