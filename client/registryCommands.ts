// The registry commands: register a model from a run's ONNX artifact behind its gate, point an
// alias at a version, approve a version. Each asks what it needs with quick picks, then runs
// `cairn models ...`; a refused gate and the CLI's errors reach the user in the CLI's own words.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { failureText } from './cliProcess';
import { readConfig } from './config';
import {
  cacheObjectPath,
  declaredModelNames,
  formatTime,
  gateMarkdown,
  isStarred,
  nestedMetrics,
} from './experimentsModel';
import type { Artifact, ModelList, RegisterOutcome, RunDetail, RunList } from './experimentsModel';
import { cli, messageOf, pickFolder, requireTrust, runItems } from './experimentUi';
import type { ReadOnlyDocuments } from './experimentUi';
import type { ModelsView, ModelNode, ModelTreeNode, VersionNode } from './modelsView';
import { cairnJson } from './runs';

const PIPELINE_GLOB = '**/{dvc.yaml,pipeline.yaml,pipeline.yml,*.pipeline.yaml,*.pipeline.yml}';
const DEFAULT_ALIASES = ['champion', 'challenger'];

/** Registry writes: register a version, move an alias, approve a version. */
export class RegistryCommands {
  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly view: ModelsView,
    private readonly documents: ReadOnlyDocuments,
  ) {}

  /** "Cairn: Register Model": a run (given, or picked), its ONNX artifact (or a file), a model name, the gate's metrics. */
  async register(runId?: string, inFolder?: vscode.WorkspaceFolder): Promise<void> {
    if (!(await requireTrust('register models'))) return;
    const folder = inFolder ?? (await pickFolder('Register a model in which folder?'));
    if (!folder) return;
    try {
      const run = runId
        ? await cairnJson<RunDetail>(this.extensionUri, folder, ['exp', 'show', runId])
        : await pickRunDetail(this.extensionUri, folder);
      if (run === undefined) return;
      const onnx = await pickArtifact(folder, run);
      if (!onnx) return;
      const name = await this.pickModelName(folder);
      if (!name) return;
      const metrics = await pickMetrics(folder, run);
      if (metrics === undefined) return;
      const args = ['models', 'register', name, onnx, ...(metrics ? ['--metrics', metrics] : [])];
      if (run) args.push('--run', run.id);
      await this.registerWith(folder, name, args);
    } catch (error) {
      void vscode.window.showErrorMessage(messageOf(error));
    }
  }

  private async registerWith(folder: vscode.WorkspaceFolder, name: string, args: string[]): Promise<void> {
    const result = await cli(this.extensionUri, folder, [...args, '--json']);
    const outcome = result.code === 0 || result.code === 1 ? parseJson<RegisterOutcome>(result.stdout) : null;
    if (!outcome) {
      void vscode.window.showErrorMessage(failureText(result, 'models register', readConfig().nodePath));
      return;
    }
    this.view.refresh();
    if (outcome.status === 'refused') {
      const failed = outcome.report.criteria.filter((criterion) => !criterion.passed);
      const reasons = failed.map((criterion) => `${criterion.criterion}: ${criterion.reason}`).join(' ');
      const choice = await vscode.window.showErrorMessage(
        `Cairn did not register ${name}: the gate failed. ${outcome.report.summary} ${reasons}`,
        'Show Gate Report',
        'Register Anyway',
      );
      if (choice === 'Show Gate Report')
        await this.documents.show(
          `gate/${name}.md`,
          [`# Gate for ${name}`, '', ...gateMarkdown(outcome.report), ''].join('\n'),
        );
      if (choice === 'Register Anyway') await this.registerWith(folder, name, [...args, '--force']);
      return;
    }
    const version = outcome.version;
    const gate = outcome.report === null ? '' : outcome.forced ? ' past its failing gate' : ', gate passed';
    const what =
      outcome.status === 'existing'
        ? `${name} v${version.version} already holds this model; nothing new was registered.`
        : `Registered ${name} v${version.version}${gate}.`;
    const choice = await vscode.window.showInformationMessage(`Cairn: ${what}`, 'Set Alias…', 'Approve…');
    const node: VersionNode = {
      kind: 'version',
      folder,
      model: { name, createdAt: version.createdAt, versions: version.version, latest: version.version, aliases: {} },
      shown: { version, aliases: {}, audit: [] },
    };
    if (choice === 'Set Alias…') await this.setAlias(node);
    if (choice === 'Approve…') await this.approve(node);
  }

  /** A registered or declared model name, or a new one typed by the user. */
  private async pickModelName(folder: vscode.WorkspaceFolder): Promise<string | undefined> {
    const registered = (await cairnJson<ModelList>(this.extensionUri, folder, ['models', 'list'])).models;
    const declared = new Set<string>();
    for (const uri of await vscode.workspace.findFiles(
      new vscode.RelativePattern(folder, PIPELINE_GLOB),
      '**/node_modules/**',
      50,
    )) {
      const text = Buffer.from(await vscode.workspace.fs.readFile(uri)).toString('utf8');
      for (const name of declaredModelNames(text)) declared.add(name);
    }
    const names = [...new Set([...declared, ...registered.map((model) => model.name)])];
    const NEW = '$(add) New model name…';
    const items: vscode.QuickPickItem[] = [
      ...names.map((name) => {
        const model = registered.find((entry) => entry.name === name);
        const parts = [
          declared.has(name) ? 'declared in a pipeline' : '',
          model ? `${model.versions} version(s)` : 'not registered yet',
        ];
        return { label: name, description: parts.filter(Boolean).join(' · ') };
      }),
      { label: NEW },
    ];
    const picked = await vscode.window.showQuickPick(items, { placeHolder: 'Register it as which model?' });
    if (!picked) return undefined;
    if (picked.label !== NEW) return picked.label;
    return vscode.window.showInputBox({
      prompt: 'The new model name',
      validateInput: (value) =>
        /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value) ? null : 'Letters, digits, ".", "_" and "-".',
    });
  }

  /** "Cairn: Set Alias": model → version → alias (champion, challenger, or another). */
  async setAlias(node?: ModelTreeNode): Promise<void> {
    if (!(await requireTrust('change the model registry'))) return;
    const target = node?.kind === 'version' ? node : await this.pickVersion(node, 'Point an alias at which version?');
    if (!target) return;
    const model = target.model.name;
    const current = Object.keys(target.model.aliases);
    const names = [...new Set([...DEFAULT_ALIASES, ...current])];
    const OTHER = '$(edit) Another alias…';
    const picked = await vscode.window.showQuickPick(
      [
        ...names.map((alias) => {
          const at = target.model.aliases[alias];
          return { label: alias, description: at === undefined ? '' : `now v${at}` };
        }),
        { label: OTHER },
      ],
      { placeHolder: `Which alias should point at ${model} v${target.shown.version.version}?` },
    );
    if (!picked) return;
    const alias =
      picked.label === OTHER
        ? await vscode.window.showInputBox({
            prompt: 'The alias name',
            validateInput: (value) =>
              /^[A-Za-z][A-Za-z0-9_-]*$/.test(value) ? null : 'A letter, then letters, digits, "_" or "-".',
          })
        : picked.label;
    if (!alias) return;
    const reason = await vscode.window.showInputBox({ prompt: `Why move ${alias}? (optional, kept in the audit log)` });
    if (reason === undefined) return;
    const version = String(target.shown.version.version);
    const args = ['models', 'alias', model, alias, version, ...(reason.trim() ? ['--reason', reason.trim()] : [])];
    await this.write(target.folder, args, `${model}@${alias} now points at v${version}.`);
  }

  /** "Cairn: Approve Model Version": model → version → a required reason. */
  async approve(node?: ModelTreeNode): Promise<void> {
    if (!(await requireTrust('change the model registry'))) return;
    const target = node?.kind === 'version' ? node : await this.pickVersion(node, 'Approve which version?', true);
    if (!target) return;
    const { model, version } = target.shown.version;
    const reason = await vscode.window.showInputBox({
      prompt: `Why approve ${model} v${version}? (kept in the audit log)`,
      validateInput: (value) => (value.trim() ? null : 'Give a reason: the audit log keeps it.'),
    });
    if (!reason?.trim()) return;
    await this.write(
      target.folder,
      ['models', 'approve', model, String(version), '--reason', reason.trim()],
      `${model} v${version} approved.`,
    );
  }

  private async write(folder: vscode.WorkspaceFolder, args: string[], done: string): Promise<void> {
    try {
      await cairnJson<unknown>(this.extensionUri, folder, args);
      this.view.refresh();
      void vscode.window.showInformationMessage(`Cairn: ${done}`);
    } catch (error) {
      void vscode.window.showErrorMessage(messageOf(error));
    }
  }

  /** A model (the given one, or picked) and one of its versions. */
  async pickVersion(
    node: ModelTreeNode | undefined,
    placeHolder: string,
    unapprovedFirst = false,
  ): Promise<VersionNode | undefined> {
    const model = node?.kind === 'model' ? node : await this.pickModel();
    if (!model) return undefined;
    const versions = await this.view.versions(model).catch((error: unknown) => {
      void vscode.window.showErrorMessage(messageOf(error));
      return [];
    });
    const ordered = unapprovedFirst
      ? [
          ...versions.filter((entry) => !entry.shown.version.approved),
          ...versions.filter((entry) => entry.shown.version.approved),
        ]
      : versions;
    const picked = await vscode.window.showQuickPick(
      ordered.map((entry) => {
        const version = entry.shown.version;
        return {
          label: `v${version.version}`,
          description: [
            version.aliases.map((alias) => `@${alias}`).join(' '),
            version.approved ? 'approved' : 'not approved',
            version.gateReport ? `gate ${version.gateReport.passed ? 'passed' : 'failed'}` : '',
            formatTime(version.createdAt),
          ]
            .filter(Boolean)
            .join(' · '),
          entry,
        };
      }),
      { placeHolder },
    );
    return picked?.entry;
  }

  private async pickModel(): Promise<ModelNode | undefined> {
    const models = await this.view.models();
    if (models.length === 0) {
      void vscode.window.showInformationMessage(
        'No models are registered yet. Register one with "Cairn: Register Model".',
      );
      return undefined;
    }
    if (models.length === 1) return models[0];
    const picked = await vscode.window.showQuickPick(
      models.map((node) => ({ label: node.model.name, description: `${node.model.versions} version(s)`, node })),
      { placeHolder: 'Which model?' },
    );
    return picked?.node;
  }
}

/** A tracked run (starred and newest first), or null for "no run: a file"; undefined when dismissed. */
async function pickRunDetail(
  extensionUri: vscode.Uri,
  folder: vscode.WorkspaceFolder,
): Promise<RunDetail | null | undefined> {
  const { runs } = await cairnJson<RunList>(extensionUri, folder, [
    'exp',
    'list',
    '--sort',
    'start_time DESC',
    '--limit',
    '200',
  ]);
  const ordered = [...runs.filter(isStarred), ...runs.filter((run) => !isStarred(run))];
  const NONE = '$(file) No run: choose an ONNX file…';
  const picked = await vscode.window.showQuickPick([...runItems(ordered), { label: NONE, run: null }], {
    placeHolder: 'Register the model of which run?',
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (!picked) return undefined;
  if (!picked.run) return null;
  return cairnJson<RunDetail>(extensionUri, folder, ['exp', 'show', picked.run.id]);
}

/** Where a run's artifact holds the bytes the run produced, or why it is nowhere. */
interface ArtifactFile {
  artifact: Artifact;
  /** The workspace file when unchanged since the run, else the content cache's copy; null when neither. */
  file: string | null;
  from: 'workspace' | 'cache' | null;
}

/**
 * The file with the bytes a run produced: the workspace's when its md5 still matches, else the
 * content cache's object (a sweep's trial ran in a working copy, so the workspace holds another
 * model). Hashing a model file in the extension host is cheap next to registering it.
 */
async function artifactFile(folder: vscode.WorkspaceFolder, artifact: Artifact): Promise<ArtifactFile> {
  const inWorkspace = path.join(folder.uri.fsPath, ...artifact.path.split('/'));
  if ((await md5Of(inWorkspace)) === artifact.md5) return { artifact, file: inWorkspace, from: 'workspace' };
  const cached = path.join(folder.uri.fsPath, ...cacheObjectPath(artifact.md5).split('/'));
  if ((await md5Of(cached)) === artifact.md5) return { artifact, file: cached, from: 'cache' };
  return { artifact, file: null, from: null };
}

async function md5Of(file: string): Promise<string | null> {
  try {
    return crypto
      .createHash('md5')
      .update(await fs.promises.readFile(file))
      .digest('hex');
  } catch {
    return null;
  }
}

/** An ONNX artifact of the run (as the run produced it), or a file the user chooses; an absolute path. */
async function pickArtifact(folder: vscode.WorkspaceFolder, run: RunDetail | null): Promise<string | undefined> {
  const CHOOSE = '$(folder-opened) Choose a file…';
  const artifacts = await Promise.all(
    (run?.artifacts ?? [])
      .filter((artifact) => /\.onnx$/i.test(artifact.path))
      .map((artifact) => artifactFile(folder, artifact)),
  );
  const picked =
    artifacts.length === 0
      ? { label: CHOOSE, entry: null }
      : await vscode.window.showQuickPick(
          [
            ...artifacts.map((entry) => ({
              label: entry.artifact.path,
              description: [
                `${entry.artifact.size} bytes · md5 ${entry.artifact.md5.slice(0, 8)}`,
                entry.from === 'cache' ? 'from the cache (the workspace file changed since the run)' : '',
                entry.from === null ? 'gone: neither the workspace nor the cache holds it' : '',
              ]
                .filter(Boolean)
                .join(' · '),
              entry,
            })),
            { label: CHOOSE, entry: null },
          ],
          { placeHolder: 'Register which ONNX model?' },
        );
  if (!picked) return undefined;
  if (picked.entry) {
    if (picked.entry.file) return picked.entry.file;
    void vscode.window.showErrorMessage(
      `Cairn cannot register ${picked.entry.artifact.path} of run ${run?.name ?? ''}: the file changed since the run and the cache no longer holds its content (md5 ${picked.entry.artifact.md5}). Run the pipeline again, or choose a file.`,
    );
    return undefined;
  }
  const chosen = await vscode.window.showOpenDialog({
    defaultUri: folder.uri,
    canSelectMany: false,
    filters: { 'ONNX model': ['onnx'] },
    openLabel: 'Register',
  });
  return chosen?.[0]?.fsPath;
}

/**
 * The metrics file the model's gate judges: a JSON artifact of the run still as the run wrote it,
 * the run's recorded metrics (written to a temporary file), another JSON file, or none (''); undefined
 * when dismissed. The CLI says when the gate needs metrics and none were given.
 */
async function pickMetrics(folder: vscode.WorkspaceFolder, run: RunDetail | null): Promise<string | undefined> {
  const fromRun = await Promise.all(
    (run?.artifacts ?? [])
      .filter((artifact) => artifact.path.endsWith('.json'))
      .map((artifact) => artifactFile(folder, artifact)),
  );
  const current = fromRun.flatMap((entry) => (entry.file ? [{ label: entry.artifact.path, file: entry.file }] : []));
  const others = (
    await vscode.workspace.findFiles(
      new vscode.RelativePattern(folder, '**/metrics/**/*.json'),
      '**/{node_modules,.cairn}/**',
      50,
    )
  )
    .map((uri) => ({ label: path.relative(folder.uri.fsPath, uri.fsPath).split(path.sep).join('/'), file: uri.fsPath }))
    // A metrics file the run wrote but that has changed since says nothing about the run's model.
    .filter((entry) => !fromRun.some((known) => known.artifact.path === entry.label));
  const recorded = run?.metrics ?? [];
  const RECORDED = "$(graph) The run's recorded metrics";
  const CHOOSE = '$(folder-opened) Choose a JSON file…';
  const NONE = 'No metrics (a model without a gate)';
  const picked = await vscode.window.showQuickPick(
    [
      ...current.map((entry) => ({ label: entry.label, description: 'written by the run', file: entry.file })),
      ...(recorded.length > 0
        ? [{ label: RECORDED, description: `${recorded.length} values, latest of each`, file: '' }]
        : []),
      ...others.map((entry) => ({ label: entry.label, description: '', file: entry.file })),
      { label: CHOOSE, description: '', file: '' },
      { label: NONE, description: '', file: '' },
    ],
    { placeHolder: 'Which metrics should the gate judge?' },
  );
  if (!picked) return undefined;
  if (picked.label === NONE) return '';
  if (picked.label === RECORDED && run) {
    const latest = Object.fromEntries(recorded.map((metric) => [metric.key, metric.latest]));
    const file = path.join(os.tmpdir(), `cairn-metrics-${run.id}.json`);
    await fs.promises.writeFile(file, `${JSON.stringify(nestedMetrics(latest), null, 2)}\n`);
    return file;
  }
  if (picked.label !== CHOOSE) return picked.file;
  const chosen = await vscode.window.showOpenDialog({
    defaultUri: folder.uri,
    canSelectMany: false,
    filters: { Metrics: ['json'] },
  });
  return chosen?.[0]?.fsPath;
}

function parseJson<T>(text: string): T | null {
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}
