/**
 * The `mlpipe.*` settings, one typed object shared by the client (which contributes them in
 * package.json), the server (which pulls them per resource) and a test that keeps the two in step.
 */
export interface MlpipeSettings {
  validate: { enable: boolean };
  maxFileSizeMB: number;
  codeLens: { enable: boolean };
  trace: { server: 'off' | 'messages' | 'verbose' };
  /** Stages a run starts at once; 0 means one per CPU core. */
  run: { jobs: number };
  /** An MLflow tracking server runs are also logged to; empty: MLFLOW_TRACKING_URI, else none. */
  tracking: { uri: string };
  /** The team cache: push each run started from VS Code to the pipeline's default remote when it ends. */
  remote: { pushAfterRun: boolean };
}

export const DEFAULT_SETTINGS: MlpipeSettings = {
  validate: { enable: true },
  maxFileSizeMB: 4,
  codeLens: { enable: true },
  trace: { server: 'off' },
  run: { jobs: 0 },
  tracking: { uri: '' },
  remote: { pushAfterRun: false },
};

/** Merges what a client sent (possibly partial or mistyped) over the defaults; wrong types fall back. */
export function readSettings(raw: unknown): MlpipeSettings {
  const value = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const section = (name: string) =>
    value[name] && typeof value[name] === 'object' ? (value[name] as Record<string, unknown>) : {};
  const size = Number(value.maxFileSizeMB);
  const trace = section('trace').server;
  return {
    validate: {
      enable:
        typeof section('validate').enable === 'boolean'
          ? (section('validate').enable as boolean)
          : DEFAULT_SETTINGS.validate.enable,
    },
    maxFileSizeMB: Number.isFinite(size) && size > 0 ? size : DEFAULT_SETTINGS.maxFileSizeMB,
    codeLens: {
      enable:
        typeof section('codeLens').enable === 'boolean'
          ? (section('codeLens').enable as boolean)
          : DEFAULT_SETTINGS.codeLens.enable,
    },
    trace: { server: trace === 'messages' || trace === 'verbose' ? trace : 'off' },
    run: {
      jobs:
        Number.isInteger(section('run').jobs) && (section('run').jobs as number) >= 0
          ? (section('run').jobs as number)
          : DEFAULT_SETTINGS.run.jobs,
    },
    tracking: {
      uri:
        typeof section('tracking').uri === 'string'
          ? (section('tracking').uri as string)
          : DEFAULT_SETTINGS.tracking.uri,
    },
    remote: {
      pushAfterRun:
        typeof section('remote').pushAfterRun === 'boolean'
          ? (section('remote').pushAfterRun as boolean)
          : DEFAULT_SETTINGS.remote.pushAfterRun,
    },
  };
}

/** Settings as `mlpipe.a.b` keys with their defaults, the shape package.json declares. */
export function flattenSettings(settings: MlpipeSettings = DEFAULT_SETTINGS): Map<string, unknown> {
  const flat = new Map<string, unknown>();
  const visit = (value: unknown, prefix: string) => {
    if (value && typeof value === 'object' && !Array.isArray(value))
      for (const [key, child] of Object.entries(value)) visit(child, `${prefix}.${key}`);
    else flat.set(prefix, value);
  };
  visit(settings, 'mlpipe');
  return flat;
}
