/**
 * CSV and TSV as people write them (RFC 4180 plus the usual liberties): quoted fields with "" for
 * a quote and line breaks inside quotes, CRLF or LF, a BOM, ragged rows. `CsvParser` takes the text
 * in chunks of any size and hands out complete rows, so a large file streams in bounded memory.
 */
export class CsvParser {
  private field = '';
  private row: string[] = [];
  private quoted = false;
  /** Inside quotes (a delimiter or line break there is data). */
  private inQuotes = false;
  /** The previous character closed a quote: a second quote is an escaped quote. */
  private quoteClosed = false;
  private started = false;
  private pendingCr = false;
  /** 1-based line where the current row started, for messages. */
  private line = 1;
  private rowLine = 1;

  constructor(
    private readonly delimiter: string,
    private readonly onRow: (fields: string[], line: number, quoted: boolean) => void,
  ) {}

  private endField(): void {
    this.row.push(this.field);
    this.field = '';
    this.quoteClosed = false;
  }

  private endRow(): void {
    this.endField();
    const row = this.row;
    const quoted = this.quoted;
    this.row = [];
    this.quoted = false;
    // A blank line is not a row.
    if (!(row.length === 1 && row[0] === '' && !quoted)) this.onRow(row, this.rowLine, quoted);
    this.rowLine = this.line;
  }

  write(chunk: string): void {
    let start = 0;
    if (!this.started) {
      this.started = true;
      if (chunk.charCodeAt(0) === 0xfeff) start = 1;
    }
    const delimiter = this.delimiter;
    for (let i = start; i < chunk.length; i++) {
      const char = chunk[i];
      if (this.pendingCr) {
        this.pendingCr = false;
        if (char === '\n') continue;
      }
      if (this.inQuotes) {
        if (char === '"') {
          this.inQuotes = false;
          this.quoteClosed = true;
        } else {
          if (char === '\n') this.line++;
          this.field += char;
        }
        continue;
      }
      if (char === '"') {
        if (this.quoteClosed) {
          // "" inside a quoted field: one quote, and still inside.
          this.field += '"';
          this.inQuotes = true;
          this.quoteClosed = false;
        } else if (this.field === '') {
          this.inQuotes = true;
          this.quoted = true;
        } else this.field += char; // a stray quote in an unquoted field is data
        continue;
      }
      this.quoteClosed = false;
      if (char === delimiter) this.endField();
      else if (char === '\n' || char === '\r') {
        this.line++;
        if (char === '\r') this.pendingCr = true;
        this.endRow();
      } else this.field += char;
    }
  }

  /** Ends the input: a last row without a line break still counts. */
  end(): void {
    if (this.field !== '' || this.row.length > 0 || this.inQuotes) this.endRow();
  }
}

/** All rows of a CSV text. */
export function parseCsv(text: string, delimiter = ','): string[][] {
  const rows: string[][] = [];
  const parser = new CsvParser(delimiter, (fields) => rows.push(fields));
  parser.write(text);
  parser.end();
  return rows;
}

/** Tab when the file is .tsv or its first line has tabs and no commas; else comma. */
export function sniffDelimiter(path: string, firstLine: string): string {
  if (/\.tsv$/i.test(path)) return '\t';
  if (firstLine.includes('\t') && !firstLine.includes(',')) return '\t';
  if (firstLine.includes(';') && !firstLine.includes(',')) return ';';
  return ',';
}
