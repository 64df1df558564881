// The one message contract between the lineage panel's host (client/lineagePanel.ts) and its
// webview (client/webview/lineage.ts). Types only: the webview imports nothing else from the host.

/** What a node of the lineage graph stands for. */
export type LineageNodeKind = 'file' | 'stage' | 'dataset' | 'param' | 'code';

/** A node as `cairn lineage --json` prints it. */
export interface LineageNode {
  /** `file:data/x.csv`, `stage:train`, `dataset:weather@3`, `param:params.yaml:train.lr`, `code:git`. */
  id: string;
  kind: LineageNodeKind;
  label: string;
  /** Workspace-relative path to open, or null. */
  path: string | null;
  md5: string | null;
  /** Free-form key/values shown in the details pane. */
  detail: Record<string, unknown>;
}

/** An edge in data-flow direction: input -> stage -> output. */
export interface LineageEdge {
  from: string;
  to: string;
}

/** The output of `cairn lineage PATH --json` and `cairn lineage --all --json`. */
export interface LineageGraph {
  target: string | null;
  nodes: LineageNode[];
  edges: LineageEdge[];
}

/** Sent by the host: the graph to draw (after `initialized`, and after every refresh). */
export interface SetDataMessage {
  type: 'setData';
  /** What the graph is of, for the header ("data/x.csv", "the whole workspace"). */
  title: string;
  graph: LineageGraph;
  /** The node to select (and whose upstream to highlight) when the graph is drawn. */
  selected: string | null;
}

/** Sent by the host while it asks the CLI for a graph. */
export interface LoadingMessage {
  type: 'loading';
  title: string;
}

/** Sent by the host when the graph could not be read; `message` says what and what to do. */
export interface ErrorMessage {
  type: 'error';
  title: string;
  message: string;
}

export type HostMessage = SetDataMessage | LoadingMessage | ErrorMessage;

/** Sent by the webview once its script runs, so the host knows it can push data. */
export interface InitializedMessage {
  type: 'initialized';
}

/** Sent by the webview when the user opens a node that has a path (double click, Enter, button). */
export interface OpenFileMessage {
  type: 'openFile';
  path: string;
  /** 0-based line to reveal (a stage's key in its pipeline file). */
  line?: number;
}

/** Sent by the webview's Refresh button: the host asks the CLI again. */
export interface RefreshMessage {
  type: 'refresh';
}

export type WebviewMessage = InitializedMessage | OpenFileMessage | RefreshMessage;
