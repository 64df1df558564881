// The Experiments and Models views and their commands: star, open and copy a run; show a model
// version; register a model from a run's ONNX artifact; move an alias; approve a version; and run
// an experiment's sweep (sweeps.ts, registryCommands.ts). Each command is a short adapter over the `cairn` CLI: what
// it changes, the CLI changes, and its errors reach the user verbatim.
import * as vscode from 'vscode';
import { runMarkdown, STARRED_TAG, versionMarkdown } from './experimentsModel';
import type { RunDetail, RunList } from './experimentsModel';
import { ExperimentsView } from './experimentsView';
import type { ExperimentTreeNode, RunNode } from './experimentsView';
import { DOCUMENT_SCHEME, messageOf, pickFolder, ReadOnlyDocuments, requireTrust, runItems } from './experimentUi';
import { ModelsView } from './modelsView';
import type { ModelTreeNode } from './modelsView';
import { RegistryCommands } from './registryCommands';
import { cairnJson } from './runs';
import { Sweeps } from './sweeps';
import { storeSignature } from './storeSignature';

/** The store is checked at most once a second, however often its files change. */
const STORE_CHECK_INTERVAL_MS = 1000;
const STORE_CHECK_MIN_DELAY_MS = 200;

/** Creates the Experiments and Models views and registers their commands. */
export function registerExperimentViews(context: vscode.ExtensionContext): void {
  const extensionUri = context.extensionUri;
  const experiments = new ExperimentsView(extensionUri);
  const models = new ModelsView(extensionUri);
  const documents = new ReadOnlyDocuments();
  const registry = new RegistryCommands(extensionUri, models, documents);
  const sweeps = new Sweeps(
    extensionUri,
    documents,
    (runId) => registry.register(runId),
    () => {
      experiments.refresh();
      models.refresh();
    },
  );
  const storeChanges = new StoreChanges(() => {
    experiments.refresh();
    models.refresh();
  });
  const command = vscode.commands.registerCommand;
  context.subscriptions.push(
    experiments,
    models,
    sweeps,
    storeChanges,
    vscode.workspace.registerTextDocumentContentProvider(DOCUMENT_SCHEME, documents),
    command('cairn.refreshExperiments', () => experiments.refresh()),
    command('cairn.refreshModels', () => models.refresh()),
    command('cairn.starRun', (node?: ExperimentTreeNode) => setStar(extensionUri, experiments, node, true)),
    command('cairn.unstarRun', (node?: ExperimentTreeNode) => setStar(extensionUri, experiments, node, false)),
    command('cairn.openRun', async (node?: ExperimentTreeNode) => {
      const target = node?.kind === 'run' ? node : await pickRunNode(extensionUri, 'Open which run?');
      if (!target) return;
      try {
        const detail = await cairnJson<RunDetail>(extensionUri, target.folder, ['exp', 'show', target.run.id]);
        await documents.show(`run/${detail.name}.md`, runMarkdown(detail));
      } catch (error) {
        void vscode.window.showErrorMessage(messageOf(error));
      }
    }),
    command('cairn.copyRunId', async (node?: ExperimentTreeNode) => {
      const target = node?.kind === 'run' ? node : await pickRunNode(extensionUri, 'Copy the id of which run?');
      if (!target) return;
      await vscode.env.clipboard.writeText(target.run.id);
      void vscode.window.setStatusBarMessage(`$(clippy) Copied run id ${target.run.id}`, 4000);
    }),
    command('cairn.showModelVersion', async (node?: ModelTreeNode) => {
      if (!(await requireTrust('read the model registry'))) return;
      const target = node?.kind === 'version' ? node : await registry.pickVersion(node, 'Show which version?');
      if (target)
        await documents.show(
          `model/${target.model.name}-v${target.shown.version.version}.md`,
          versionMarkdown(target.shown),
        );
    }),
    // From a run's row: that run; from the palette or the Models view: a run the user picks.
    command('cairn.registerModel', (node?: ExperimentTreeNode | ModelTreeNode) =>
      node?.kind === 'run' ? registry.register(node.run.id, node.folder) : registry.register(),
    ),
    command('cairn.setModelAlias', (node?: ModelTreeNode) => registry.setAlias(node)),
    command('cairn.approveModelVersion', (node?: ModelTreeNode) => registry.approve(node)),
    command('cairn.runExperiment', (uri?: vscode.Uri) => sweeps.run(uri)),
    command('cairn.stopExperiment', () => sweeps.stop()),
  );
}

/**
 * Calls `onChange` when a workspace's tracking store has been written, at most once a second. The
 * file events alone cannot say so: every reader (the views' own `cairn exp list` included) creates
 * and removes the write-ahead log, so following them would refresh forever. A write shows as a new
 * size or time of the database, or of a write-ahead log that holds frames.
 */
class StoreChanges implements vscode.Disposable {
  private readonly watcher = vscode.workspace.createFileSystemWatcher('**/.cairn/cairn.db*');
  private readonly signatures = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private lastCheck = 0;

  constructor(private readonly onChange: () => void) {
    this.watcher.onDidChange(() => this.schedule());
    this.watcher.onDidCreate(() => this.schedule());
    this.watcher.onDidDelete(() => this.schedule());
    void this.check();
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(STORE_CHECK_MIN_DELAY_MS, this.lastCheck + STORE_CHECK_INTERVAL_MS - Date.now());
    this.timer = setTimeout(() => void this.check(), wait);
  }

  private async check(): Promise<void> {
    this.timer = undefined;
    this.lastCheck = Date.now();
    let changed = false;
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      const key = folder.uri.toString();
      const signature = await storeSignature(folder.uri.fsPath);
      const previous = this.signatures.get(key);
      this.signatures.set(key, signature);
      if (previous !== undefined && previous !== signature) changed = true;
    }
    if (changed) this.onChange();
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.watcher.dispose();
  }
}

async function setStar(
  extensionUri: vscode.Uri,
  view: ExperimentsView,
  node: ExperimentTreeNode | undefined,
  star: boolean,
): Promise<void> {
  if (!(await requireTrust('change tracked runs'))) return;
  const target =
    node?.kind === 'run' ? node : await pickRunNode(extensionUri, star ? 'Star which run?' : 'Unstar which run?');
  if (!target) return;
  const args = star
    ? ['exp', 'tag', target.run.id, `${STARRED_TAG}=true`]
    : ['exp', 'untag', target.run.id, STARRED_TAG];
  try {
    await cairnJson<unknown>(extensionUri, target.folder, args);
    view.refresh();
  } catch (error) {
    void vscode.window.showErrorMessage(messageOf(error));
  }
}

async function pickRunNode(extensionUri: vscode.Uri, placeHolder: string): Promise<RunNode | undefined> {
  if (!(await requireTrust('read tracked runs'))) return undefined;
  const folder = await pickFolder(placeHolder);
  if (!folder) return undefined;
  try {
    const { runs } = await cairnJson<RunList>(extensionUri, folder, [
      'exp',
      'list',
      '--sort',
      'start_time DESC',
      '--limit',
      '200',
    ]);
    const picked = await vscode.window.showQuickPick(runItems(runs), {
      placeHolder,
      matchOnDescription: true,
      matchOnDetail: true,
    });
    return picked ? { kind: 'run', folder, run: picked.run, objective: null, sweep: false } : undefined;
  } catch (error) {
    void vscode.window.showErrorMessage(messageOf(error));
    return undefined;
  }
}
