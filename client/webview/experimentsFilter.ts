/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The filter box's completion list: column names (metrics.*, params.*, tags.*, attributes) and
// keywords for the word at the caret; arrows move, Tab or Enter accept, Escape closes, Ctrl+Space
// opens it on an empty word. Enter with the list closed applies the filter.
import { element } from './experimentsDom';
import { acceptCompletion, completionsOf, wordAt } from './experimentsFormat';

/** Wires completion into `input`; `names` gives the names to offer, `apply` runs the filter. */
export function attachCompletion(
  input: HTMLInputElement,
  list: HTMLUListElement,
  names: () => string[],
  apply: () => void,
): { hide: () => void } {
  let active = 0;

  const hide = (): void => {
    list.classList.remove('open');
    list.replaceChildren();
  };

  const accept = (name: string): void => {
    const next = acceptCompletion(input.value, input.selectionStart ?? input.value.length, name);
    input.value = next.text;
    input.setSelectionRange(next.caret, next.caret);
    hide();
    input.focus();
    // A kind (`metrics.`) was accepted: offer its keys right away.
    if (name.endsWith('.')) update();
  };

  const update = (force = false): void => {
    const { word } = wordAt(input.value, input.selectionStart ?? input.value.length);
    const matches = word === '' && !force ? [] : completionsOf(names(), word);
    if (matches.length === 0) {
      hide();
      return;
    }
    active = 0;
    list.replaceChildren(
      ...matches.map((name, index) => {
        const item = element('li', index === 0 ? 'active' : '', name);
        item.setAttribute('role', 'option');
        item.addEventListener('mousedown', (event) => {
          event.preventDefault();
          accept(name);
        });
        return item;
      }),
    );
    list.classList.add('open');
  };

  input.addEventListener('input', () => update());
  input.addEventListener('blur', () => hide());
  input.addEventListener('keydown', (event) => {
    const items = [...list.children] as HTMLElement[];
    const open = list.classList.contains('open') && items.length > 0;
    if (event.key === ' ' && event.ctrlKey) {
      event.preventDefault();
      update(true);
    } else if (open && (event.key === 'ArrowDown' || event.key === 'ArrowUp')) {
      event.preventDefault();
      items[active]?.classList.remove('active');
      active = (active + (event.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length;
      items[active]?.classList.add('active');
    } else if (open && (event.key === 'Tab' || event.key === 'Enter')) {
      event.preventDefault();
      accept(items[active]?.textContent ?? '');
    } else if (event.key === 'Escape') {
      hide();
    } else if (event.key === 'Enter') {
      event.preventDefault();
      hide();
      apply();
    }
  });
  return { hide };
}
