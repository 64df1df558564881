/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The lineage webview: lays the graph out with ELK (layered, left to right, in this page: the
// bundled build needs no eval and no worker), draws it as SVG with wheel zoom and drag pan, and
// highlights the upstream of the selected node. It talks to the host only through the messages
// of lineageContract.ts. DOM only: no vscode, no Node.
import ELK from 'elkjs/lib/elk.bundled.js';
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api';
import type { HostMessage, LineageGraph, LineageNode, WebviewMessage } from './lineageContract';
import './lineage.css';

declare function acquireVsCodeApi(): { postMessage(message: WebviewMessage): void };

const vscode = acquireVsCodeApi();
const SVG = 'http://www.w3.org/2000/svg';
const NODE_HEIGHT = 34;
const MAX_LABEL = 42;
const KIND_NAMES: Record<LineageNode['kind'], string> = {
  file: 'file',
  stage: 'stage',
  dataset: 'dataset',
  param: 'param',
  code: 'code',
};

/** Wheel zoom and drag pan of the drawing: a translate and a scale. */
interface View {
  x: number;
  y: number;
  scale: number;
}

const app = document.getElementById('app') as HTMLElement;
app.innerHTML = `
  <header class="toolbar">
    <h1 id="title">Lineage</h1>
    <span id="status" role="status"></span>
    <span class="spacer"></span>
    <span class="legend">${Object.keys(KIND_NAMES)
      .map((kind) => `<span class="legend-item kind-${kind}"><span class="swatch"></span>${kind}</span>`)
      .join('')}</span>
    <button id="fit" type="button" title="Fit the graph in the window">Fit</button>
    <button id="refresh" type="button" title="Read the lineage again">Refresh</button>
  </header>
  <main>
    <svg id="canvas" role="img" aria-label="Lineage graph"><g id="viewport"></g></svg>
    <aside id="details" aria-live="polite"><p class="hint">Select a node to see its details and highlight what it comes from. Double-click a file to open it.</p></aside>
  </main>`;

const title = element('title');
const status = element('status');
const canvas = element('canvas') as unknown as SVGSVGElement;
const viewport = element('viewport') as unknown as SVGGElement;
const details = element('details');
const elk = new ELK();

let graph: LineageGraph = { target: null, nodes: [], edges: [] };
let selected: string | null = null;
let view: View = { x: 0, y: 0, scale: 1 };
let bounds = { width: 0, height: 0 };
/** Incoming edges per node id: the upstream walk reads them. */
let incoming = new Map<string, string[]>();
let layoutGeneration = 0;

window.addEventListener('message', (event: MessageEvent<HostMessage>) => {
  const message = event.data;
  switch (message.type) {
    case 'loading':
      title.textContent = `Lineage of ${message.title}`;
      status.textContent = 'Reading the lineage…';
      break;
    case 'error':
      title.textContent = `Lineage of ${message.title}`;
      status.textContent = '';
      viewport.replaceChildren();
      details.replaceChildren(paragraph(message.message, 'error'));
      break;
    case 'setData':
      title.textContent = `Lineage of ${message.title}`;
      void draw(message.graph, message.selected);
      break;
  }
});

element('fit').addEventListener('click', () => fit());
element('refresh').addEventListener('click', () => vscode.postMessage({ type: 'refresh' }));
installPanAndZoom();
vscode.postMessage({ type: 'initialized' });

async function draw(next: LineageGraph, select: string | null): Promise<void> {
  const generation = ++layoutGeneration;
  graph = next;
  const ids = new Set(next.nodes.map((node) => node.id));
  // An edge to a node the CLI did not list would make the layout throw; such edges are dropped.
  const edges = next.edges.filter((edge) => ids.has(edge.from) && ids.has(edge.to) && edge.from !== edge.to);
  incoming = new Map();
  for (const edge of edges) incoming.set(edge.to, [...(incoming.get(edge.to) ?? []), edge.from]);
  if (next.nodes.length === 0) {
    viewport.replaceChildren();
    status.textContent = '';
    details.replaceChildren(paragraph('No lineage recorded yet: run the pipeline first.', 'hint'));
    return;
  }
  status.textContent = `Laying out ${next.nodes.length} nodes…`;
  const measure = textMeasurer();
  const input: ElkNode = {
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.layered.spacing.nodeNodeBetweenLayers': '56',
      'elk.spacing.nodeNode': '18',
      'elk.spacing.edgeNode': '14',
    },
    children: next.nodes.map((node) => ({ id: node.id, width: measure(shortLabel(node)) + 36, height: NODE_HEIGHT })),
    edges: edges.map((edge, index): ElkExtendedEdge => ({ id: `e${index}`, sources: [edge.from], targets: [edge.to] })),
  };
  const layout = await elk.layout(input);
  if (generation !== layoutGeneration) return;
  bounds = { width: layout.width ?? 0, height: layout.height ?? 0 };
  render(layout.children ?? [], layout.edges ?? [], edges);
  status.textContent = `${next.nodes.length} nodes, ${edges.length} edges`;
  fit();
  selectNode(select && ids.has(select) ? select : null);
}

function render(positioned: ElkNode[], laidEdges: ElkExtendedEdge[], edges: { from: string; to: string }[]): void {
  const byId = new Map(graph.nodes.map((node) => [node.id, node]));
  const edgeLayer = svg('g', { class: 'edges' });
  laidEdges.forEach((laid, index) => {
    const edge = edges[index];
    const section = laid.sections?.[0];
    if (!edge || !section) return;
    const points = [section.startPoint, ...(section.bendPoints ?? []), section.endPoint];
    const path = svg('path', {
      class: 'edge',
      d: points.map((point, at) => `${at === 0 ? 'M' : 'L'}${point.x},${point.y}`).join(' '),
      'marker-end': 'url(#arrow)',
    });
    path.dataset['from'] = edge.from;
    path.dataset['to'] = edge.to;
    edgeLayer.append(path);
  });
  const nodeLayer = svg('g', { class: 'nodes' });
  for (const place of positioned) {
    const node = byId.get(place.id);
    if (!node) continue;
    const group = svg('g', {
      class: `node kind-${node.kind}`,
      transform: `translate(${place.x ?? 0},${place.y ?? 0})`,
      tabindex: '0',
      role: 'button',
      'aria-label': `${KIND_NAMES[node.kind]} ${node.label}`,
    });
    group.dataset['id'] = node.id;
    const width = place.width ?? 0;
    group.append(
      svg('rect', { class: 'box', width: String(width), height: String(NODE_HEIGHT), rx: '5' }),
      svg('rect', { class: 'stripe', width: '5', height: String(NODE_HEIGHT), rx: '2' }),
      text(shortLabel(node), { x: '14', y: String(NODE_HEIGHT / 2 + 4), class: 'label' }),
    );
    const tooltip = svg('title', {});
    tooltip.textContent = `${KIND_NAMES[node.kind]}: ${node.label}${node.path ? `\n${node.path}` : ''}`;
    group.append(tooltip);
    group.addEventListener('click', (event) => {
      event.stopPropagation();
      selectNode(node.id);
    });
    group.addEventListener('dblclick', (event) => {
      event.stopPropagation();
      open(node);
    });
    group.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') open(node);
      if (event.key === ' ') {
        event.preventDefault();
        selectNode(node.id);
      }
    });
    nodeLayer.append(group);
  }
  const defs = svg('defs', {});
  const marker = svg('marker', {
    id: 'arrow',
    viewBox: '0 0 10 10',
    refX: '10',
    refY: '5',
    markerWidth: '7',
    markerHeight: '7',
    orient: 'auto-start-reverse',
  });
  marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow' }));
  defs.append(marker);
  viewport.replaceChildren(defs, edgeLayer, nodeLayer);
}

/** Selects a node: shows its details and lights it and everything upstream of it. */
function selectNode(id: string | null): void {
  selected = id;
  const lit = id ? upstreamOf(id) : new Set<string>();
  canvas.classList.toggle('has-selection', id !== null);
  for (const group of viewport.querySelectorAll<SVGGElement>('.node')) {
    const nodeId = group.dataset['id'] ?? '';
    group.classList.toggle('lit', lit.has(nodeId));
    group.classList.toggle('selected', nodeId === id);
  }
  for (const path of viewport.querySelectorAll<SVGPathElement>('.edge')) {
    path.classList.toggle('lit', lit.has(path.dataset['from'] ?? '') && lit.has(path.dataset['to'] ?? ''));
  }
  const node = graph.nodes.find((candidate) => candidate.id === id);
  details.replaceChildren(
    ...(node
      ? detailsOf(node, lit.size - 1)
      : [
          paragraph(
            'Select a node to see its details and highlight what it comes from. Double-click a file to open it.',
            'hint',
          ),
        ]),
  );
}

/** The node and every node it was made from, following edges backwards. */
function upstreamOf(id: string): Set<string> {
  const seen = new Set([id]);
  const queue = [id];
  while (queue.length) {
    for (const from of incoming.get(queue.pop() as string) ?? []) {
      if (seen.has(from)) continue;
      seen.add(from);
      queue.push(from);
    }
  }
  return seen;
}

function detailsOf(node: LineageNode, upstreamCount: number): HTMLElement[] {
  const heading = document.createElement('h2');
  heading.textContent = node.label;
  const kind = paragraph(KIND_NAMES[node.kind], `kind-tag kind-${node.kind}`);
  const list = document.createElement('dl');
  const rows: [string, string][] = [['id', node.id]];
  if (node.path) rows.push(['path', node.path]);
  if (node.md5) rows.push(['md5', node.md5]);
  for (const [key, value] of Object.entries(node.detail ?? {})) rows.push([key, valueText(value)]);
  rows.push(['upstream', `${upstreamCount} node${upstreamCount === 1 ? '' : 's'}`]);
  for (const [key, value] of rows) {
    const term = document.createElement('dt');
    term.textContent = key;
    const description = document.createElement('dd');
    description.textContent = value;
    list.append(term, description);
  }
  const parts: HTMLElement[] = [heading, kind, list];
  if (node.path) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = `Open ${node.path}`;
    button.addEventListener('click', () => open(node));
    parts.push(button);
  }
  return parts;
}

function open(node: LineageNode): void {
  const line = node.detail['line'];
  if (node.path)
    vscode.postMessage({ type: 'openFile', path: node.path, ...(typeof line === 'number' ? { line } : {}) });
  else selectNode(node.id);
}

function installPanAndZoom(): void {
  let drag: { pointer: number; x: number; y: number } | null = null;
  canvas.addEventListener(
    'wheel',
    (event) => {
      event.preventDefault();
      const box = canvas.getBoundingClientRect();
      const scale = clamp(view.scale * Math.exp(-event.deltaY * 0.0015), 0.05, 4);
      // Keep the point under the mouse where it is.
      const px = event.clientX - box.left;
      const py = event.clientY - box.top;
      view = {
        scale,
        x: px - ((px - view.x) * scale) / view.scale,
        y: py - ((py - view.y) * scale) / view.scale,
      };
      applyView();
    },
    { passive: false },
  );
  canvas.addEventListener('pointerdown', (event) => {
    if ((event.target as Element).closest('.node')) return;
    drag = { pointer: event.pointerId, x: event.clientX, y: event.clientY };
    canvas.setPointerCapture(event.pointerId);
    canvas.classList.add('panning');
  });
  canvas.addEventListener('pointermove', (event) => {
    if (!drag || drag.pointer !== event.pointerId) return;
    view = { ...view, x: view.x + event.clientX - drag.x, y: view.y + event.clientY - drag.y };
    drag = { ...drag, x: event.clientX, y: event.clientY };
    applyView();
  });
  const end = (event: PointerEvent): void => {
    if (!drag || drag.pointer !== event.pointerId) return;
    drag = null;
    canvas.classList.remove('panning');
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  // A click on the background (not a drag) clears the selection.
  canvas.addEventListener('click', (event) => {
    if (!(event.target as Element).closest('.node') && selected) selectNode(null);
  });
}

/** Scales the drawing to fit the canvas (never above 1:1) and centres it. */
function fit(): void {
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (!bounds.width || !bounds.height || !width || !height) return;
  const scale = clamp(Math.min((width - 40) / bounds.width, (height - 40) / bounds.height), 0.05, 1);
  view = { scale, x: (width - bounds.width * scale) / 2, y: (height - bounds.height * scale) / 2 };
  applyView();
}

function applyView(): void {
  viewport.setAttribute('transform', `translate(${view.x},${view.y}) scale(${view.scale})`);
}

/** Width of a label in the page's font, for node sizes before anything is drawn. */
function textMeasurer(): (label: string) => number {
  const context = document.createElement('canvas').getContext('2d');
  const style = getComputedStyle(document.body);
  if (context) context.font = `12px ${style.fontFamily}`;
  return (label) => (context ? context.measureText(label).width : label.length * 7);
}

function shortLabel(node: LineageNode): string {
  return node.label.length > MAX_LABEL ? `${node.label.slice(0, MAX_LABEL - 1)}…` : node.label;
}

function valueText(value: unknown): string {
  if (value === null || value === undefined) return '—';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string>,
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function text(content: string, attributes: Record<string, string>): SVGTextElement {
  const node = svg('text', attributes);
  node.textContent = content;
  return node;
}

function paragraph(content: string, className: string): HTMLParagraphElement {
  const node = document.createElement('p');
  node.className = className;
  node.textContent = content;
  return node;
}

function element(id: string): HTMLElement {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the lineage page has no #${id}`);
  return found;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
