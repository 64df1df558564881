// The registry commands: register a model from a run's ONNX artifact behind its gate, point an
// alias at a version, approve a version. Each asks what it needs with quick picks, then runs
// `cairn models ...`; a refused gate and the CLI's errors reach the user in the CLI's own words.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { failureText } from './cliProcess';
import { readConfig } from './config';
import { declaredModelNames, formatTime, gateMarkdown, isStarred } from './experimentsModel';
import type { ModelList, RegisterOutcome, RunDetail, RunList } from './experimentsModel';
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

  /** "Cairn: Register Model": a run, its ONNX artifact (or a file), a model name, the gate's metrics. */
  async register(runId?: string): Promise<void> {
    if (!(await requireTrust('register models'))) return;
    const folder = await pickFolder('Register a model in which folder?');
    if (!folder) return;
    try {
      const run = runId
        ? await cairnJson<RunDetail>(this.extensionUri, folder, ['exp', 'show', runId])
        : await pickRunDetail(this.extensionUri, folder);
      if (run === undefined) return;
      const onnx = await pickArtifact(folder, run, /\.onnx$/i, 'Register which ONNX model?', {
        'ONNX model': ['onnx'],
      });
      if (!onnx) return;
      const name = await this.pickModelName(folder);
      if (!name) return;
      const metrics = await pickMetrics(folder, run);
      if (metrics === undefined) return;
      const args = ['models', 'register', name, onnx, ...(metrics ? ['--metrics', metrics] : [])];
      if (run) args.push('--tag', `cairn.run=${run.id}`);
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

/** An artifact of the run matching `pattern`, or a file the user chooses; an absolute path. */
async function pickArtifact(
  folder: vscode.WorkspaceFolder,
  run: RunDetail | null,
  pattern: RegExp,
  placeHolder: string,
  filters: Record<string, string[]>,
): Promise<string | undefined> {
  const CHOOSE = '$(folder-opened) Choose a file…';
  const artifacts = (run?.artifacts ?? []).filter((artifact) => pattern.test(artifact.path));
  const picked =
    artifacts.length === 0
      ? { label: CHOOSE }
      : await vscode.window.showQuickPick(
          [
            ...artifacts.map((artifact) => ({
              label: artifact.path,
              description: `${artifact.size} bytes · md5 ${artifact.md5.slice(0, 8)}`,
            })),
            { label: CHOOSE },
          ],
          { placeHolder },
        );
  if (!picked) return undefined;
  if (picked.label !== CHOOSE) return path.join(folder.uri.fsPath, ...picked.label.split('/'));
  const chosen = await vscode.window.showOpenDialog({
    defaultUri: folder.uri,
    canSelectMany: false,
    filters,
    openLabel: 'Register',
  });
  return chosen?.[0]?.fsPath;
}

/**
 * The metrics file the model's gate judges: a JSON artifact of the run, another JSON file, or none
 * (''); undefined when dismissed. The CLI says when the gate needs metrics and none were given.
 */
async function pickMetrics(folder: vscode.WorkspaceFolder, run: RunDetail | null): Promise<string | undefined> {
  const files = (
    await vscode.workspace.findFiles(
      new vscode.RelativePattern(folder, '**/metrics/**/*.json'),
      '**/{node_modules,.cairn}/**',
      50,
    )
  ).map((uri) => path.relative(folder.uri.fsPath, uri.fsPath).split(path.sep).join('/'));
  const fromRun = (run?.artifacts ?? []).map((artifact) => artifact.path).filter((file) => file.endsWith('.json'));
  const candidates = [...new Set([...fromRun, ...files])];
  const CHOOSE = '$(folder-opened) Choose a JSON file…';
  const NONE = 'No metrics (a model without a gate)';
  const picked = await vscode.window.showQuickPick(
    [
      ...candidates.map((file) => ({ label: file, description: fromRun.includes(file) ? 'from the run' : '' })),
      { label: CHOOSE },
      { label: NONE },
    ],
    { placeHolder: 'Which metrics should the gate judge?' },
  );
  if (!picked) return undefined;
  if (picked.label === NONE) return '';
  if (picked.label !== CHOOSE) return path.join(folder.uri.fsPath, ...picked.label.split('/'));
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
