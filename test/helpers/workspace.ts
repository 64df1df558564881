// A real temporary workspace on disk, made from a map of relative paths to contents.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export function makeWorkspace(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-test-'));
  for (const [relativePath, content] of Object.entries(files)) {
    const target = path.join(root, relativePath);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if (relativePath.endsWith('/')) fs.mkdirSync(target, { recursive: true });
    else fs.writeFileSync(target, content);
  }
  return root;
}

/** Removes the common indentation of a template literal, so specs can be written inline. */
export function yaml(strings: TemplateStringsArray, ...values: unknown[]): string {
  const text = String.raw({ raw: strings }, ...values).replace(/^\n/, '');
  const indent = Math.min(
    ...text
      .split('\n')
      .filter((line) => line.trim())
      .map((line) => /^ */.exec(line)?.[0].length ?? 0),
  );
  return text
    .split('\n')
    .map((line) => line.slice(indent))
    .join('\n')
    .replace(/[ ]+$/, '');
}
