// A virtualised grid: fixed-height rows, a body as tall as all rows, and only the rows in view
// (plus a few either side) in the DOM, recycled as the user scrolls. The toolkit's data grid renders
// every row, which 10,000 runs x 50 columns cannot afford; this one is styled with the same tokens.
import type { SortState } from '../contract';
import { el, setText } from '../shared/dom';
import { cellText, type Column, type PreparedRow } from './columns';

export const ROW_HEIGHT = 24;
const OVERSCAN = 6;
const CHECK_WIDTH = 32;
/** Cells this far (px) left and right of the view are kept filled, so a quick horizontal scroll shows no stale cells. */
const COLUMN_OVERSCAN = 480;

export interface TableEvents {
  sort(columnId: string): void;
  reorder(columnId: string, beforeId: string): void;
  /** Checkbox click: toggle, or extend from the anchor with shift. */
  toggle(id: string, shift: boolean): void;
  /** Row click: select only it; with ctrl/cmd toggle; with shift extend. */
  rowClick(id: string, modifiers: { shift: boolean; toggle: boolean }): void;
  toggleAll(): void;
  open(id: string): void;
  scrolled(top: number): void;
}

interface Slot {
  element: HTMLElement;
  checkbox: HTMLInputElement;
  cells: HTMLElement[];
  bar?: HTMLElement;
  index: number;
  version: number;
  /** The columns [from, to) whose cells hold this row's values; the others may be stale (out of view). */
  from: number;
  to: number;
}

export class TableView {
  readonly viewport: HTMLElement;
  private readonly header: HTMLElement;
  private readonly body: HTMLElement;
  private readonly headerCheck: HTMLInputElement;
  private columns: Column[] = [];
  /** Left edge of each column in the row (after the checkbox). */
  private offsets: number[] = [];
  private rows: PreparedRow[] = [];
  private selected: ReadonlySet<string> = new Set();
  private slots: Slot[] = [];
  private version = 0;
  private active = -1;
  private framePending = false;

  constructor(
    parent: HTMLElement,
    private readonly events: TableEvents,
  ) {
    this.headerCheck = el('input', {
      type: 'checkbox',
      'aria-label': 'Select all shown runs',
      title: 'Select all shown runs',
    });
    this.header = el('div', { class: 'table-header', role: 'row' });
    this.body = el('div', { class: 'table-body', role: 'rowgroup' });
    this.viewport = el(
      'div',
      { class: 'table', role: 'grid', tabindex: 0, 'aria-multiselectable': 'true' },
      this.header,
      this.body,
    );
    parent.append(this.viewport);
    this.viewport.addEventListener('scroll', () => {
      this.schedule();
      this.events.scrolled(this.viewport.scrollTop);
    });
    new ResizeObserver(() => this.schedule()).observe(this.viewport);
    this.headerCheck.addEventListener('click', (event) => {
      event.preventDefault();
      this.events.toggleAll();
    });
    this.listen();
  }

  setColumns(columns: Column[], sort: SortState | undefined): void {
    this.columns = columns;
    let left = CHECK_WIDTH;
    this.offsets = columns.map((column) => {
      const at = left;
      left += column.width;
      return at;
    });
    const width = left;
    this.header.replaceChildren(el('div', { class: 'cell check', role: 'columnheader' }, this.headerCheck));
    this.header.style.width = `${width}px`;
    this.body.style.width = `${width}px`;
    for (const column of columns) {
      const sorted = sort?.column === column.id;
      const cell = el(
        'div',
        {
          class: `cell header-cell kind-${column.kind}`,
          role: 'columnheader',
          draggable: 'true',
          title: `${column.title}: click to sort, drag to move`,
          'data-column': column.id,
          'aria-sort': sorted ? (sort.descending ? 'descending' : 'ascending') : 'none',
          tabindex: -1,
        },
        el('span', { class: 'label' }, column.label),
        sorted ? el('span', { class: 'sort' }, sort.descending ? '\u25BC' : '\u25B2') : undefined,
      );
      cell.style.width = `${column.width}px`;
      this.header.append(cell);
    }
    for (const slot of this.slots) slot.element.remove();
    this.slots = [];
    this.invalidate();
  }

  setRows(rows: PreparedRow[], selected: ReadonlySet<string>): void {
    this.rows = rows;
    this.selected = selected;
    this.body.style.height = `${rows.length * ROW_HEIGHT}px`;
    this.viewport.setAttribute('aria-rowcount', String(rows.length + 1));
    if (this.active >= rows.length) this.active = rows.length - 1;
    this.invalidate();
  }

  setSelection(selected: ReadonlySet<string>): void {
    this.selected = selected;
    this.invalidate();
  }

  setAllChecked(state: 'all' | 'some' | 'none'): void {
    this.headerCheck.checked = state === 'all';
    this.headerCheck.indeterminate = state === 'some';
  }

  /** Draws now (the first render, and the benchmark's measure). */
  render(): void {
    this.framePending = false;
    const top = this.viewport.scrollTop;
    const height = this.viewport.clientHeight || 600;
    const needed = Math.ceil(height / ROW_HEIGHT) + 2 * OVERSCAN + 1;
    if (this.slots.length !== needed) this.resizePool(needed);
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.rows.length, first + needed);
    // Only the columns in (or near) view are filled: a row that scrolls in updates about a dozen
    // cells, not all fifty-odd, which is what keeps scrolling within a frame.
    const left = this.viewport.scrollLeft - COLUMN_OVERSCAN;
    const right = this.viewport.scrollLeft + (this.viewport.clientWidth || 1200) + COLUMN_OVERSCAN;
    let from = 0;
    while (from < this.columns.length && this.offsets[from] + this.columns[from].width < left) from++;
    let to = from;
    while (to < this.columns.length && this.offsets[to] < right) to++;
    const used = new Set<number>();
    for (let index = first; index < last; index++) {
      const slotIndex = index % needed;
      used.add(slotIndex);
      this.fill(this.slots[slotIndex], index, from, to);
    }
    for (let i = 0; i < this.slots.length; i++) {
      if (!used.has(i) && this.slots[i].index !== -1) {
        this.slots[i].element.hidden = true;
        this.slots[i].index = -1;
      }
    }
  }

  scrollTo(top: number): void {
    this.viewport.scrollTop = top;
    this.render();
  }

  private invalidate(): void {
    this.version++;
    this.schedule();
  }

  private schedule(): void {
    if (this.framePending) return;
    this.framePending = true;
    requestAnimationFrame(() => {
      if (this.framePending) this.render();
    });
  }

  private resizePool(size: number): void {
    for (const slot of this.slots) slot.element.remove();
    this.slots = [];
    const fragment = document.createDocumentFragment();
    for (let i = 0; i < size; i++) {
      const checkbox = el('input', { type: 'checkbox', tabindex: -1, 'aria-label': 'Select run' });
      const element = el(
        'div',
        { class: 'table-row', role: 'row' },
        el('div', { class: 'cell check', role: 'gridcell' }, checkbox),
      );
      const slot: Slot = { element, checkbox, cells: [], index: -1, version: -1, from: 0, to: 0 };
      for (const column of this.columns) {
        const cell = el('div', { class: `cell kind-${column.kind}`, role: 'gridcell' });
        cell.style.width = `${column.width}px`;
        if (column.kind === 'status') {
          slot.bar = el('div', { class: 'progress-bar' });
          cell.append(el('span', { class: 'text' }), el('div', { class: 'progress' }, slot.bar));
        }
        slot.cells.push(cell);
        element.append(cell);
      }
      element.hidden = true;
      this.slots.push(slot);
      fragment.append(element);
    }
    this.body.append(fragment);
  }

  private fill(slot: Slot, index: number, from: number, to: number): void {
    const prepared = this.rows[index];
    const current = slot.index === index && slot.version === this.version;
    if (current && slot.from <= from && slot.to >= to) return;
    if (current) {
      // Same row, scrolled sideways: fill the newly visible cells only.
      this.fillCells(slot, prepared, from, to);
      slot.from = Math.min(slot.from, from);
      slot.to = Math.max(slot.to, to);
      return;
    }
    slot.index = index;
    slot.version = this.version;
    slot.from = from;
    slot.to = to;
    const { row } = prepared;
    const element = slot.element;
    element.hidden = false;
    element.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
    element.dataset.id = row.id;
    element.setAttribute('aria-rowindex', String(index + 2));
    const selected = this.selected.has(row.id);
    element.classList.toggle('selected', selected);
    element.classList.toggle('active', index === this.active);
    element.setAttribute('aria-selected', String(selected));
    slot.checkbox.checked = selected;
    this.fillCells(slot, prepared, from, to);
  }

  private fillCells(slot: Slot, prepared: PreparedRow, from: number, to: number): void {
    const { row } = prepared;
    for (let i = from; i < to; i++) {
      const column = this.columns[i];
      const cell = slot.cells[i];
      const text = cellText(prepared, column);
      if (column.kind === 'status') {
        setText(cell.firstChild as HTMLElement, text);
        cell.dataset.status = row.status;
        const running = row.status === 'running' && row.stages && row.stages.total > 0;
        (cell.lastChild as HTMLElement).hidden = !running;
        if (running && slot.bar) slot.bar.style.width = `${Math.round((100 * row.stages.done) / row.stages.total)}%`;
      } else {
        setText(cell, text);
        if (column.kind === 'name' || text.length * 7 > column.width) cell.title = text;
        else if (cell.title) cell.removeAttribute('title');
      }
    }
  }

  private idAt(target: EventTarget | null): string | undefined {
    const row = (target as HTMLElement | null)?.closest?.('.table-row') as HTMLElement | null;
    return row?.dataset.id;
  }

  private listen(): void {
    this.body.addEventListener('click', (event) => {
      const id = this.idAt(event.target);
      if (!id) return;
      this.active = this.rows.findIndex((prepared) => prepared.id === id);
      if ((event.target as HTMLElement).matches('input[type=checkbox]')) {
        event.preventDefault();
        this.events.toggle(id, event.shiftKey);
      } else this.events.rowClick(id, { shift: event.shiftKey, toggle: event.ctrlKey || event.metaKey });
    });
    this.body.addEventListener('dblclick', (event) => {
      const id = this.idAt(event.target);
      if (id) this.events.open(id);
    });
    this.header.addEventListener('click', (event) => {
      const cell = (event.target as HTMLElement).closest('.header-cell') as HTMLElement | null;
      if (cell?.dataset.column) this.events.sort(cell.dataset.column);
    });
    this.header.addEventListener('dragstart', (event) => {
      const cell = (event.target as HTMLElement).closest('.header-cell') as HTMLElement | null;
      if (cell?.dataset.column && event.dataTransfer) {
        event.dataTransfer.setData('text/x-mlpipe-column', cell.dataset.column);
        event.dataTransfer.effectAllowed = 'move';
      }
    });
    this.header.addEventListener('dragover', (event) => {
      if (event.dataTransfer?.types.includes('text/x-mlpipe-column')) event.preventDefault();
    });
    this.header.addEventListener('drop', (event) => {
      const cell = (event.target as HTMLElement).closest('.header-cell') as HTMLElement | null;
      const moved = event.dataTransfer?.getData('text/x-mlpipe-column');
      if (cell?.dataset.column && moved) {
        event.preventDefault();
        this.events.reorder(moved, cell.dataset.column);
      }
    });
    this.viewport.addEventListener('keydown', (event) => {
      if (this.rows.length === 0) return;
      const move = (to: number) => {
        this.active = Math.max(0, Math.min(this.rows.length - 1, to));
        const top = this.active * ROW_HEIGHT;
        const headerHeight = this.header.offsetHeight;
        if (top < this.viewport.scrollTop) this.viewport.scrollTop = top;
        else if (top + ROW_HEIGHT > this.viewport.scrollTop + this.viewport.clientHeight - headerHeight)
          this.viewport.scrollTop = top + ROW_HEIGHT - this.viewport.clientHeight + headerHeight;
        this.invalidate();
      };
      const page = Math.max(1, Math.floor(this.viewport.clientHeight / ROW_HEIGHT) - 1);
      const id = this.rows[this.active]?.id;
      switch (event.key) {
        case 'ArrowDown':
          move(this.active + 1);
          break;
        case 'ArrowUp':
          move(this.active - 1);
          break;
        case 'PageDown':
          move(this.active + page);
          break;
        case 'PageUp':
          move(this.active - page);
          break;
        case 'Home':
          move(0);
          break;
        case 'End':
          move(this.rows.length - 1);
          break;
        case ' ':
          if (id) this.events.toggle(id, event.shiftKey);
          break;
        case 'Enter':
          if (id) this.events.open(id);
          break;
        default:
          return;
      }
      event.preventDefault();
    });
  }
}
