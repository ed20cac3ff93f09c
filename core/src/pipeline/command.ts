/**
 * How a stage's `cmd` becomes a container command without ever pasting data into a shell.
 *
 * The command template is the pipeline author's code; the values of `${params...}` and
 * `${matrix...}` are data. A template without shell syntax is split into arguments (quotes
 * honoured) and each value is substituted inside its argument: exec form, no shell. A template
 * with shell syntax (pipes, `&&`, redirects, `$VAR`, globs) runs under `sh -c`, and each value is
 * passed as an environment variable the script expands (`"${MLPIPE_PARAMS_TRAIN_LR}"`), so a value
 * is never parsed as shell code. A list of commands runs in order under `sh -c`, stopping at the
 * first failure.
 *
 * A value may also sit inside code that another interpreter parses: the script of a nested
 * `sh -c` / `bash -c`, or `python -c`, `node -e`, `perl -e`, an awk or sed program. In exec form
 * the script of a nested shell is rewritten like a shell-form command (values as variables); in any
 * other such place the command is refused with a CommandError that says how to pass the value as
 * data instead (an argument, or the environment). docs/runner.md lists the interpreters.
 */
export interface ContainerCommand {
  argv: string[];
  /** Values passed to a shell-form command as variables. */
  env: Record<string, string>;
  /** The command with values filled in, for logs and the cache key. */
  display: string;
}

export type Lookup = (namespace: string, path: string) => string | undefined;

const REFERENCE = /(?<!\$)\$\{\s*(params|matrix)\.([^}\s]+)\s*\}/g;
/** Characters that make an unquoted command need a shell; inside double quotes only `$`, backquote and backslash do. */
const SHELL_CHARS = new Set([...'|&;<>()$`\\*?[]~#\n']);
const DOUBLE_QUOTE_SPECIAL = new Set(['$', '`', '\\']);

export class CommandError extends Error {}

/** The variable a shell-form command reads a value from: `${params.train.lr}` -> MLPIPE_PARAMS_TRAIN_LR. */
export function variableFor(namespace: string, path: string): string {
  return `MLPIPE_${namespace.toUpperCase()}_${path.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

function resolveValue(lookup: Lookup, namespace: string, path: string, template: string): string {
  const value = lookup(namespace, path);
  if (value === undefined)
    throw new CommandError(`\${${namespace}.${path}} in \`${template}\` does not resolve; run mlpipe check.`);
  return value;
}

/** Splits a command into arguments as a shell would for quotes and spaces (no expansion). */
export function splitArguments(text: string): string[] {
  const args: string[] = [];
  let current = '';
  let inWord = false;
  let quote: '"' | "'" | '' = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = '';
      else current += c;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = '';
      else current += c;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === ' ' || c === '\t') {
      if (inWord) args.push(current);
      current = '';
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (quote) throw new CommandError(`unclosed ${quote} quote in \`${text}\``);
  if (inWord) args.push(current);
  return args;
}

/**
 * A shell script in which every reference expands a variable, quoted to suit where it sits:
 * `"${VAR}"` outside quotes, `${VAR}` inside double quotes, `'"${VAR}"'` inside single quotes.
 */
function shellScript(template: string, env: Record<string, string>, lookup: Lookup): string {
  let script = '';
  let quote: '"' | "'" | '' = '';
  let i = 0;
  while (i < template.length) {
    REFERENCE.lastIndex = i;
    const match = REFERENCE.exec(template);
    const next = match && match.index === i ? match : null;
    if (next) {
      const variable = variableFor(next[1], next[2]);
      env[variable] = resolveValue(lookup, next[1], next[2], template);
      script += quote === '"' ? `\${${variable}}` : quote === "'" ? `'"\${${variable}}"'` : `"\${${variable}}"`;
      i += next[0].length;
      continue;
    }
    const c = template[i];
    if (quote === '' && (c === '"' || c === "'")) quote = c;
    else if (quote === c) quote = '';
    else if (quote === '"' && c === '\\') {
      script += c + (template[i + 1] ?? '');
      i += 2;
      continue;
    }
    script += c;
    i++;
  }
  // `$${...}` is mlpipe's escape for a literal `${...}`.
  return script.replace(/\$\$\{/g, '${');
}

/**
 * Whether a command needs a shell: shell syntax outside quotes, or an expansion inside double
 * quotes. Quoted text is only text (`sh -c "a > b"` is three arguments, no outer shell needed).
 */
function needsShell(template: string): boolean {
  if (/^\s*\w+=/.test(template)) return true;
  let quote: '"' | "'" | '' = '';
  for (const c of template) {
    if (quote === "'") {
      if (c === "'") quote = '';
    } else if (quote === '"') {
      if (c === '"') quote = '';
      else if (DOUBLE_QUOTE_SPECIAL.has(c)) return true;
    } else if (c === '"' || c === "'") quote = c;
    else if (SHELL_CHARS.has(c)) return true;
  }
  return false;
}

/** Shells whose `-c` script mlpipe can rewrite to read values from variables. */
const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'yash']);
/** Commands that run the next word as the command (with their own options first). */
const WRAPPERS = new Set([
  'env',
  'busybox',
  'nohup',
  'nice',
  'time',
  'exec',
  'timeout',
  'stdbuf',
  'command',
  'sudo',
  'xargs',
]);

interface CodeSite {
  /** Index of the word that is code another interpreter parses. */
  index: number;
  interpreter: string;
  shell: boolean;
}

function base(word: string): string {
  return word.slice(word.lastIndexOf('/') + 1);
}

/**
 * The words of one simple command that are code for an interpreter: the script of `sh -c`, the
 * code of `python -c`, `node -e`, `perl -e`, `ruby -e`, `Rscript -e`, `php -r`, `julia -e`,
 * `lua -e`, an awk program, a sed script. Wrappers (`env`, `timeout 5`, `busybox`) are looked through.
 */
function codeSites(words: string[]): CodeSite[] {
  let i = 0;
  // Look through wrappers, their options and `NAME=value` assignments.
  while (i < words.length) {
    const name = base(words[i]);
    if (/^\w+=/.test(words[i])) i++;
    else if (WRAPPERS.has(name)) {
      i++;
      while (
        i < words.length &&
        (words[i].startsWith('-') ||
          (name === 'timeout' && /^\d/.test(words[i])) ||
          (name === 'env' && /^\w+=/.test(words[i])))
      )
        i++;
    } else break;
  }
  if (i >= words.length) return [];
  const command = base(words[i]);
  const args = words.slice(i + 1);
  const at = (offset: number) => i + 1 + offset;
  const sites: CodeSite[] = [];
  if (SHELLS.has(command)) {
    let script = false;
    for (let k = 0; k < args.length; k++) {
      const arg = args[k];
      if (arg === '-o' || arg === '+o') k++;
      else if (/^-[A-Za-z]+$/.test(arg)) script ||= arg.includes('c');
      else if (arg.startsWith('--') || arg.startsWith('+')) continue;
      else {
        if (script) sites.push({ index: at(k), interpreter: command, shell: true });
        break;
      }
    }
    return sites;
  }
  const inline: Record<string, RegExp> = {
    python: /^-[A-Za-z]*c$/,
    node: /^(-e|--eval|-p|--print)$/,
    perl: /^-[A-Za-z]*[eE]$/,
    ruby: /^-[A-Za-z]*e$/,
    Rscript: /^-e$/,
    R: /^-e$/,
    php: /^-r$/,
    julia: /^(-e|-E|--eval|--print)$/,
    lua: /^-e$/,
    sed: /^(-e|--expression)$/,
  };
  const family = /^(python|pypy)[\d.]*$/.test(command)
    ? 'python'
    : /^(nodejs|node|deno|bun)$/.test(command)
      ? 'node'
      : /^(g|m|n)?awk$/.test(command)
        ? 'awk'
        : command;
  const flag = inline[family];
  if (flag) {
    for (let k = 0; k < args.length; k++) {
      if (flag.test(args[k])) sites.push({ index: at(++k), interpreter: command, shell: false });
      else if (family === 'python' && /^-c./.test(args[k]))
        sites.push({ index: at(k), interpreter: command, shell: false });
      else if (/^--(eval|expression)=/.test(args[k])) sites.push({ index: at(k), interpreter: command, shell: false });
      else if (family === 'python' && (args[k] === '-m' || !args[k].startsWith('-'))) break;
    }
  }
  if (family === 'awk' || (family === 'sed' && sites.length === 0)) {
    // The program is the first operand, unless it comes from a file (-f).
    for (let k = 0; k < args.length; k++) {
      const arg = args[k];
      if (arg === '-f' || arg.startsWith('--file')) return sites;
      if (['-F', '-v', '-l', '-s'].includes(arg)) k++;
      else if (!arg.startsWith('-') || arg === '-') {
        sites.push({ index: at(k), interpreter: command, shell: false });
        break;
      }
    }
  }
  return sites.filter((site) => site.index < words.length);
}

/** How each interpreter takes a value as data rather than as code. */
function dataAdvice(interpreter: string, reference: string): string {
  if (/^(python|pypy)/.test(interpreter))
    return `pass it as an argument after the code and read sys.argv[1]: ${interpreter} -c "..." ${reference}`;
  if (/^(node|nodejs|deno|bun)$/.test(interpreter))
    return `pass it as an argument after the code and read process.argv`;
  if (/awk$/.test(interpreter))
    return `pass it as an awk variable: ${interpreter} -v value=${reference} '{ print value }'`;
  if (interpreter === 'sed')
    return 'sed cannot take a value as data: write the sed script to a file in the repository, or use a tool that takes arguments';
  return `pass it as an argument after the code (${interpreter} reads its arguments as data), or through the stage's env`;
}

function refuseCode(site: CodeSite, template: string, reference: string, shellForm: boolean): never {
  const match = /\$\{\s*(params|matrix)\.([^}\s]+)\s*\}/.exec(reference);
  const variable = match ? variableFor(match[1], match[2]) : 'MLPIPE_PARAMS_...';
  const advice = site.shell
    ? `Drop the inner \`${site.interpreter} -c\`: mlpipe runs shell syntax under sh itself and passes each value as a variable ($${variable})`
    : `Instead, ${dataAdvice(site.interpreter, reference)}`;
  throw new CommandError(
    `${reference} sits inside code that ${site.interpreter} parses, in \`${template}\`${shellForm ? ' (a shell command)' : ''}: its value would be pasted into that code and could run as code. ${advice}.`,
  );
}

/**
 * The references of a command that sit inside code another interpreter parses and that mlpipe
 * would refuse to run, as messages (for `mlpipe check`); empty when the command is safe.
 */
export function inlineCodeProblems(templates: string[]): string[] {
  try {
    buildCommand(templates, () => 'x');
    return [];
  } catch (error) {
    return error instanceof CommandError && error.message.includes('sits inside code') ? [error.message] : [];
  }
}

/**
 * Words of a shell-form template, split at unquoted blanks and shell operators, each with its
 * text after quote removal (for telling commands apart) and its raw text (for finding references).
 */
function shellCommands(template: string): { text: string; raw: string }[][] {
  const commands: { text: string; raw: string }[][] = [[]];
  let text = '';
  let raw = '';
  let inWord = false;
  let quote: '"' | "'" | '' = '';
  const end = () => {
    if (inWord) commands[commands.length - 1].push({ text, raw });
    text = '';
    raw = '';
    inWord = false;
  };
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if (quote) {
      raw += c;
      if (c === quote) quote = '';
      else text += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      raw += c;
      inWord = true;
    } else if (c === ' ' || c === '\t') end();
    else if ('|&;()\n'.includes(c)) {
      end();
      commands.push([]);
    } else if (c === '<' || c === '>') end();
    else {
      text += c;
      raw += c;
      inWord = true;
    }
  }
  end();
  return commands.filter((command) => command.length > 0);
}

export function buildCommand(templates: string[], lookup: Lookup): ContainerCommand {
  if (templates.length === 0) throw new CommandError('the stage has no command');
  const display = templates
    .map((template) =>
      template.replace(REFERENCE, (_, namespace: string, path: string) =>
        resolveValue(lookup, namespace, path, template),
      ),
    )
    .join(' && ');
  const withoutReferences = templates.map((template) => template.replace(REFERENCE, 'x'));
  const fill = (text: string, template: string) =>
    text.replace(REFERENCE, (_, namespace: string, path: string) => resolveValue(lookup, namespace, path, template));
  if (templates.length === 1 && !needsShell(withoutReferences[0])) {
    // Exec form: split first, then fill each argument, so a value with spaces stays one argument.
    const words = splitArguments(templates[0]);
    if (words.length === 0) throw new CommandError('the stage command is empty');
    const env: Record<string, string> = {};
    const code = new Map(codeSites(words).map((site) => [site.index, site]));
    const argv = words.map((word, index) => {
      const site = code.get(index);
      const reference = site && new RegExp(REFERENCE.source).exec(word);
      if (!site || !reference) return fill(word, templates[0]);
      // A nested shell's script reads each value from a variable, as a shell-form command does.
      if (site.shell) return shellScript(word, env, lookup);
      return refuseCode(site, templates[0], reference[0], false);
    });
    return { argv, env, display };
  }
  for (const template of templates) {
    for (const words of shellCommands(template)) {
      for (const site of codeSites(words.map((word) => word.text))) {
        const reference = new RegExp(REFERENCE.source).exec(words[site.index].raw);
        if (reference) refuseCode(site, template, reference[0], true);
      }
    }
  }
  const env: Record<string, string> = {};
  const script = templates.map((template) => shellScript(template, env, lookup)).join(' && ');
  return { argv: ['sh', '-c', script], env, display };
}
