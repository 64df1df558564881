/// <reference lib="dom" />
// Two small DOM builders the experiments table webview's modules share.

/** A new element with a class and a text. */
export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = '',
  text = '',
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

/** A button with a tooltip and a click handler. */
export function button(label: string, title: string, onClick: () => void): HTMLButtonElement {
  const node = element('button', '', label);
  node.title = title;
  node.type = 'button';
  node.addEventListener('click', onClick);
  return node;
}
