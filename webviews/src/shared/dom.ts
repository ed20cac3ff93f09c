// DOM building without HTML parsing: data only ever reaches the page as textContent or attributes.

type Attributes = Record<string, string | number | boolean | undefined>;

/** `el('div', {class: 'x', title: name}, 'text', child)`: attributes set one by one, strings as text nodes. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes?: Attributes,
  ...children: (Node | string | undefined)[]
): HTMLElementTagNameMap[K];
export function el(tag: string, attributes?: Attributes, ...children: (Node | string | undefined)[]): HTMLElement;
export function el(tag: string, attributes: Attributes = {}, ...children: (Node | string | undefined)[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) if (child !== undefined) element.append(child);
  return element;
}

/** Sets text only when it changed (cheap re-renders of recycled rows). */
export function setText(element: HTMLElement, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}
