/**
 * The one place the webviews touch @vscode/webview-ui-toolkit. Microsoft archived the toolkit in
 * January 2025; its suggested successor is @vscode-elements/elements. Everything else uses the
 * custom element names registered here (`vscode-button`, `vscode-checkbox`, ...), so swapping the
 * library means changing this module (and the tag names where they differ), nothing more.
 *
 * Only the components the panels use are registered, which keeps the bundles small. The toolkit's
 * data grid is not used: it renders every row, which 10,000 runs cannot afford; the table is a
 * virtualised grid of our own (experiments/table-view.ts) styled with the same tokens.
 *
 * Under the panels' CSP (no 'unsafe-inline' styles) the FAST elements work because they style
 * their shadow roots with constructable stylesheets (adoptedStyleSheets), which CSP does not govern.
 * Two details: FAST probes `:focus-visible` support with a <style> element that carries the nonce
 * of `<meta property="csp-nonce">`, so the page's style-src also lists that nonce; and the toolkit's
 * badge binds an inline `style` attribute, which CSP blocks, so counts use a plain styled <span>.
 */
import {
  provideVSCodeDesignSystem,
  vsCodeButton,
  vsCodeCheckbox,
  vsCodeDivider,
  vsCodeTextField,
} from '@vscode/webview-ui-toolkit';

let registered = false;

export function registerComponents(): void {
  if (registered) return;
  registered = true;
  provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeCheckbox(), vsCodeTextField(), vsCodeDivider());
}

/** The toolkit's elements as the panels use them (their JS properties, not their classes). */
export type ButtonElement = HTMLElement & { disabled: boolean; appearance: string };
export type CheckboxElement = HTMLElement & { checked: boolean };
export type TextFieldElement = HTMLElement & { value: string; placeholder: string };
