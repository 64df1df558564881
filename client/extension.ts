// The Cairn extension: starts the language server, shows its state, and hosts the sidebar.
// The extension host loads no native module; everything heavy runs in the server process or in
// the `cairn` CLI (pipeline runs, status, lineage).
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { createClient } from './client';
import { readConfig } from './config';
import { registerDeployViews } from './deployCommands';
import { registerExperimentViews } from './experimentCommands';
import { registerExperimentsTable } from './experimentsTable';
import { LineagePanel } from './lineagePanel';
import { PipelinesView } from './pipelinesView';
import type { PipelineNode, PipelineTreeNode, StageNode } from './pipelinesView';
import { openLog, Runs } from './runs';
import { SpecsView } from './specsView';
import { StatusItem } from './status';

let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel('Cairn', { log: true });
  const status = new StatusItem();
  const specs = new SpecsView();
  context.subscriptions.push(output, status, specs, vscode.window.registerTreeDataProvider('cairn.specs', specs));
  registerPipelineCommands(context);
  registerExperimentViews(context);
  registerExperimentsTable(context);
  registerDeployViews(context);

  const start = async (): Promise<void> => {
    client = createClient(context, readConfig(), output, status);
    try {
      await client.start();
    } catch (error) {
      output.error(`Could not start the Cairn language server: ${String(error)}`);
    }
  };

  context.subscriptions.push(
    vscode.commands.registerCommand('cairn.restartServer', async () => {
      output.info('Restarting the Cairn language server');
      if (client) await client.stop().catch((error: unknown) => output.warn(`Stopping the server: ${String(error)}`));
      await start();
    }),
    vscode.commands.registerCommand('cairn.showOutput', () => output.show(true)),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration('cairn.nodePath')) await vscode.commands.executeCommand('cairn.restartServer');
    }),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}

/** A command argument naming a file: a URI string (from a code lens), a Uri, or a tree node. */
type FileArgument = string | vscode.Uri | PipelineTreeNode | undefined;

/** A pipeline file and its workspace folder, with the path the CLI takes. */
interface PipelineTarget {
  folder: vscode.WorkspaceFolder;
  /** Workspace-relative, '/' separators. */
  file: string;
}

/** The Pipelines view, runs, and lineage: their commands and the objects behind them. */
function registerPipelineCommands(context: vscode.ExtensionContext): void {
  const runs = new Runs(context.extensionUri);
  const pipelines = new PipelinesView(context.extensionUri, runs);
  const lineage = new LineagePanel(context.extensionUri);
  const command = vscode.commands.registerCommand;

  context.subscriptions.push(
    runs,
    pipelines,
    lineage,
    command('cairn.runPipeline', async (argument: FileArgument) => {
      const target = targetOf(argument) ?? (await pickPipeline(pipelines));
      if (target) await runs.run({ folder: target.folder, file: target.file, stages: [] });
    }),
    command('cairn.runStage', async (argument: FileArgument, stageName?: string) => {
      const stage = await stageOf(pipelines, argument, stageName);
      if (stage) await runs.run({ folder: stage.folder, file: stage.file, stages: [stage.name] });
    }),
    command('cairn.stopRun', () => runs.stop()),
    command('cairn.showRunOutput', () => runs.output.show(true)),
    command('cairn.refreshPipelines', () => pipelines.refresh()),
    command('cairn.openStageLog', async (argument?: StageNode) => {
      const node = argument?.kind === 'stage' ? argument : await pickStage(pipelines, 'Open the log of which stage?');
      if (!node) return;
      const logPath =
        runs.logPaths.get(node.stage.address) ?? runs.logPaths.get(node.stage.name) ?? node.stage.lastRun?.logPath;
      if (logPath) await openLog(logPath);
      else void vscode.window.showInformationMessage(`Stage '${node.stage.name}' has no log yet: run it first.`);
    }),
    command('cairn.showLineage', async (argument: FileArgument, stageName?: string) => {
      if (argument && typeof argument === 'object' && 'kind' in argument && argument.kind === 'stage') {
        const { folder, file } = argument.pipeline;
        return lineage.show({ folder, stage: { file, name: argument.stage.name } });
      }
      const target = targetOf(argument ?? vscode.window.activeTextEditor?.document.uri);
      if (target && stageName)
        return lineage.show({ folder: target.folder, stage: { file: target.file, name: stageName } });
      // A data file (not a spec): its own lineage. Otherwise the whole workspace.
      if (target && !isSpec(target.file)) return lineage.show({ folder: target.folder, path: target.file });
      const folder = target?.folder ?? (await pickFolder());
      if (folder) await lineage.show({ folder });
      return undefined;
    }),
  );
}

/** The folder and workspace-relative path of a command argument, or null when it names no file. */
function targetOf(argument: FileArgument): PipelineTarget | null {
  if (argument === undefined) return null;
  if (typeof argument === 'object' && 'kind' in argument) {
    const pipeline: PipelineNode = argument.kind === 'stage' ? argument.pipeline : argument;
    return { folder: pipeline.folder, file: pipeline.file };
  }
  const uri = typeof argument === 'string' ? vscode.Uri.parse(argument) : argument;
  const folder = vscode.workspace.getWorkspaceFolder(uri);
  if (!folder) {
    void vscode.window.showWarningMessage(`Cairn works on files inside a workspace folder; ${uri.fsPath} is not.`);
    return null;
  }
  return { folder, file: path.relative(folder.uri.fsPath, uri.fsPath).split(path.sep).join('/') };
}

/** The stage a command is about: from a tree node, a code lens (file and name), or a quick pick. */
async function stageOf(
  pipelines: PipelinesView,
  argument: FileArgument,
  stageName: string | undefined,
): Promise<(PipelineTarget & { name: string }) | null> {
  if (argument && typeof argument === 'object' && 'kind' in argument && argument.kind === 'stage')
    return { folder: argument.pipeline.folder, file: argument.pipeline.file, name: argument.stage.name };
  const target = targetOf(argument);
  if (target && stageName) return { ...target, name: stageName };
  const node = await pickStage(pipelines, 'Run which stage?');
  return node ? { folder: node.pipeline.folder, file: node.pipeline.file, name: node.stage.name } : null;
}

async function pickStage(pipelines: PipelinesView, placeHolder: string): Promise<StageNode | undefined> {
  const stages = await pipelines.allStages().catch(() => []);
  if (stages.length === 0) {
    void vscode.window.showInformationMessage('Cairn found no pipeline stages in this workspace.');
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    stages.map((node) => ({
      label: node.stage.name,
      description: node.pipeline.file,
      detail: node.stage.reasons[0] ?? '',
      node,
    })),
    { placeHolder, matchOnDescription: true },
  );
  return picked?.node;
}

/** The pipeline of the active editor, the only pipeline, or the one the user picks. */
async function pickPipeline(pipelines: PipelinesView): Promise<PipelineTarget | null> {
  const active = vscode.window.activeTextEditor?.document.uri;
  const activeTarget = active && vscode.workspace.getWorkspaceFolder(active) ? targetOf(active) : null;
  if (activeTarget && isPipeline(activeTarget.file)) return activeTarget;
  const children: PipelineTreeNode[] = await pipelines.getChildren().catch(() => []);
  const nodes = children.filter((node): node is PipelineNode => node.kind === 'pipeline');
  if (nodes.length <= 1) {
    const only = nodes[0];
    if (!only) void vscode.window.showInformationMessage('Cairn found no pipeline in this workspace.');
    return only ? { folder: only.folder, file: only.file } : null;
  }
  const picked = await vscode.window.showQuickPick(
    nodes.map((node) => ({ label: node.file, description: node.folder.name, node })),
    { placeHolder: 'Run which pipeline?' },
  );
  return picked ? { folder: picked.node.folder, file: picked.node.file } : null;
}

async function pickFolder(): Promise<vscode.WorkspaceFolder | undefined> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length <= 1) return folders[0];
  return vscode.window.showWorkspaceFolderPick({ placeHolder: 'Show the lineage of which folder?' });
}

function isPipeline(file: string): boolean {
  return /(^|\/)(dvc|pipeline)\.ya?ml$|\.pipeline\.ya?ml$/.test(file);
}

function isSpec(file: string): boolean {
  return isPipeline(file) || /\.(experiment|deploy)\.ya?ml$|(^|\/)params\.ya?ml$/.test(file);
}
