// Generates the benchmark workspace: a dvc.yaml pipeline of N chained stages, the params.yaml its
// `${...}` interpolations read, and the files its first stage depends on. Also returns the positions
// the LSP benchmark edits, completes and hovers at, so bench/lsp.mjs never guesses line numbers.
//
// Usage as a script: node bench/generate.mjs [--stages N] [--out DIR]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The key planted in one stage: unknown to dvc.yaml's syntax, so every validator must flag it. */
export const PLANTED_KEY = 'bogus_key';

/**
 * Builds the texts and the positions of interest (0-based LSP line/character).
 * Each stage is 9 lines; every tenth stage adds a 3-line `metrics` entry; one stage (at 30 %)
 * carries the planted unknown key. 2,000 stages give 18,602 lines.
 */
export function generatePipeline(stages) {
  if (!Number.isInteger(stages) || stages < 20) throw new Error(`--stages must be an integer >= 20, got ${stages}`);
  const width = Math.max(4, String(stages - 1).length);
  const name = (i) => `s${String(i).padStart(width, '0')}`;
  const out = (i) => (i < 0 ? 'data/raw.csv' : `data/${name(i)}.csv`);
  const planted = Math.floor(stages * 0.3);
  const middle = Math.floor(stages / 2);
  const editStages = [middle, middle + 3, middle - 5, middle + 7];

  const lines = ['stages:'];
  const params = [];
  const at = {}; // stage index -> { name, line of each key }
  for (let i = 0; i < stages; i++) {
    const s = name(i);
    // Deps: the script and the output of an earlier stage (the previous one, or a farther one every
    // third stage, so the graph is not a plain list).
    const upstream = i === 0 ? -1 : i % 3 === 0 ? Math.floor(i / 2) : i - 1;
    const info = { name: s, upstream };
    info.header = lines.length;
    lines.push(`  ${s}:`);
    info.cmd = lines.length;
    lines.push(`    cmd: python src/step.py --in ${out(upstream)} --out ${out(i)} --lr \${${s}.lr} --tag a`);
    info.deps = lines.length;
    lines.push('    deps:');
    info.depScript = lines.length;
    lines.push('    - src/step.py');
    info.depData = lines.length;
    lines.push(`    - ${out(upstream)}`);
    info.params = lines.length;
    lines.push('    params:');
    lines.push(`    - ${s}.lr`);
    lines.push('    outs:');
    lines.push(`    - ${out(i)}`);
    if (i % 10 === 9) {
      lines.push('    metrics:');
      lines.push(`    - metrics/${s}.json:`);
      lines.push('        cache: false');
    }
    if (i === planted) {
      info.plantedLine = lines.length;
      lines.push(`    ${PLANTED_KEY}: true`);
    }
    at[i] = info;
    params.push(`${s}:`, `  lr: ${(0.001 * (1 + (i % 9))).toFixed(3)}`, `  seed: ${i}`);
  }
  const text = lines.join('\n') + '\n';

  // Edits: same-length replacements that toggle back and forth, so the document returns to its
  // original text every few edits, and every version still has exactly the planted problem.
  const edits = [];
  for (const i of editStages) {
    const info = at[i];
    const cmdLine = lines[info.cmd];
    const tag = cmdLine.lastIndexOf('--tag a') + '--tag '.length;
    edits.push({ what: `cmd of ${info.name}`, line: info.cmd, character: tag, from: 'a', to: 'b' });
    const depLine = lines[info.depScript];
    const col = depLine.indexOf('step.py');
    edits.push({ what: `dep of ${info.name}`, line: info.depScript, character: col, from: 'step.py', to: 'prep.py' });
  }

  const m = at[middle];
  const cmdLine = lines[m.cmd];
  const interp = cmdLine.indexOf('${') + 2;
  const positions = {
    // Inside the key `deps` of a stage ("    de|ps:"), as when a key is being typed.
    completionKey: { line: m.deps, character: 6, what: `key position in ${m.name}` },
    // Inside a deps list item, after "- data/".
    completionDeps: {
      line: m.depData,
      character: lines[m.depData].indexOf('data/') + 5,
      what: `deps item of ${m.name}`,
    },
    // On the param name inside `${sNNNN.lr}` in a cmd.
    hoverParam: { line: m.cmd, character: interp + 2, what: `\${...} param in cmd of ${m.name}` },
    // On the key `cmd`.
    hoverKey: { line: m.cmd, character: 5, what: `key cmd of ${m.name}` },
  };

  return {
    stages,
    text,
    params: params.join('\n') + '\n',
    lineCount: lines.length,
    planted: { stage: name(planted), line: at[planted].plantedLine, key: PLANTED_KEY },
    edits,
    positions,
  };
}

/** Writes dvc.yaml, params.yaml and the files the pipeline depends on into `dir`. */
export function writeWorkspace(dir, stages) {
  const generated = generatePipeline(stages);
  mkdirSync(join(dir, 'src'), { recursive: true });
  mkdirSync(join(dir, 'data'), { recursive: true });
  writeFileSync(join(dir, 'dvc.yaml'), generated.text);
  writeFileSync(join(dir, 'params.yaml'), generated.params);
  writeFileSync(join(dir, 'src', 'step.py'), 'import sys\nprint(sys.argv)\n');
  writeFileSync(join(dir, 'src', 'prep.py'), 'import sys\nprint(sys.argv)\n');
  writeFileSync(join(dir, 'data', 'raw.csv'), 'x,y\n1,2\n');
  return { dir, file: join(dir, 'dvc.yaml'), ...generated };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (flag, fallback) => {
    const i = process.argv.indexOf(flag);
    return i >= 0 ? process.argv[i + 1] : fallback;
  };
  const stages = Number(arg('--stages', '2000'));
  const dir = resolve(arg('--out', join(here, 'out', `stages-${stages}`)));
  const result = writeWorkspace(dir, stages);
  process.stdout.write(
    `${result.file}: ${result.lineCount} lines, planted ${result.planted.key} at line ${result.planted.line + 1}\n`,
  );
}
