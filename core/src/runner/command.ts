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
const SHELL_SYNTAX = /[|&;<>()$`\\*?[\]~#\n]|^\s*\w+=|\s\w+=\S*\s/;

export class CommandError extends Error {}

/** The variable a shell-form command reads a value from: `${params.train.lr}` -> MLPIPE_PARAMS_TRAIN_LR. */
export function variableFor(namespace: string, path: string): string {
  return `MLPIPE_${namespace.toUpperCase()}_${path.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

function resolveValue(lookup: Lookup, namespace: string, path: string, template: string): string {
  const value = lookup(namespace, path);
  if (value === undefined) throw new CommandError(`\${${namespace}.${path}} in \`${template}\` does not resolve; run mlpipe check.`);
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

export function buildCommand(templates: string[], lookup: Lookup): ContainerCommand {
  if (templates.length === 0) throw new CommandError('the stage has no command');
  const display = templates.map((template) => template.replace(REFERENCE, (_, namespace: string, path: string) => resolveValue(lookup, namespace, path, template))).join(' && ');
  const withoutReferences = templates.map((template) => template.replace(REFERENCE, 'x'));
  if (templates.length === 1 && !SHELL_SYNTAX.test(withoutReferences[0])) {
    // Exec form: split first, then fill each argument, so a value with spaces stays one argument.
    const argv = splitArguments(templates[0]).map((arg) => arg.replace(REFERENCE, (_, namespace: string, path: string) => resolveValue(lookup, namespace, path, templates[0])));
    if (argv.length === 0) throw new CommandError('the stage command is empty');
    return { argv, env: {}, display };
  }
  const env: Record<string, string> = {};
  const script = templates.map((template) => shellScript(template, env, lookup)).join(' && ');
  return { argv: ['sh', '-c', script], env, display };
}
