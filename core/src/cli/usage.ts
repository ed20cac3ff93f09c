import { type CliIo } from './io';

declare const MLPIPE_VERSION: string | undefined;
export const VERSION = typeof MLPIPE_VERSION === 'string' ? MLPIPE_VERSION : '0.0.0-dev';

export const USAGE = `Usage: mlpipe <command> [options]

Commands:
  check [paths...]   Check pipelines (mlpipe.yaml, *.pipeline.yaml), model cards
                     (modelcard.yaml, *.modelcard.yaml) and their params files,
                     exactly as the editor does. Folders are searched recursively.
      --format text|json|sarif|github   Output format (default: text)
      --strict                          Exit 1 on warnings too
      --max-file-size MB                Skip larger files with a warning (default: 4)
  run [stage...]     Run the pipeline (or the named stages) in Docker containers,
                     skipping stages whose inputs did not change.
      --upstream                        Also run what the named stages depend on
      --force                           Run even when nothing changed
      --host NAME                       Run every stage on this host
      --jobs N                          Stages at once (default: CPU cores)
      --dry-run                         Say what would run, and why; run nothing
      --no-pull                         Do not look stages up in the remote's run-cache
      --push                            Push the run to the default remote when it ends
  status [stage...]  Which stages are out of date, and why (dep, param, command, image);
                     "cached (remote)" when the team remote has the result.
      --format text|json, --no-remote
  dag                The pipeline's graph: stages (with their state), the files and
                     params that link them, sources, the model and its card.
      --format text|dot|mermaid|json, --no-status, --no-sources
  cancel             Stop the runs in progress in this workspace.
  diff [REV]         For review: stages, commands and params that differ from a git
                     revision (default HEAD), and the stages that would rerun.
      --format text|json
  review [BASE]      For a pull request: what changes against BASE (default HEAD), what
                     reruns and why, params, the metrics of a run of each side against the
                     model card's thresholds, the card's approval, the affected graph.
      --format markdown|json, --base-run RUN, --head-run RUN
  checkout RUN       Put a run's outputs back in the workspace from the cache.
  cache push [RUN...]   Send runs (default: the latest) to the team remote: their stage
                     entries and the objects they name, only what the remote lacks.
  cache pull [RUN...]   Fetch runs from the remote into the cache and the workspace; with no
                     run, every stage of the pipeline as it is now that the remote has.
      --stage NAME                      Only this stage (may repeat)
  cache status       What is local only, remote only, or both.
  cache gc --remote [NAME] [--keep-days N] [--dry-run]
                     Remove from a remote the runs older than N days (default 30) and what
                     only they reference; never a run an approval names or tagged mlpipe.keep.
      --remote NAME, --jobs N, --format text|json   (push, pull, status)
  runs list          The runs of this workspace, newest first, with params and metrics.
      --filter EXPR                     e.g. "metrics.auc > 0.8 and params.\`train.lr\` < 0.01"
      --sort KEYS                       e.g. "-metrics.auc" or "metrics.auc desc, started"
      --group pipeline|commit           Group the runs
      --columns FIELDS                  e.g. params.train.lr,metrics.auc (default: what differs)
      --limit N, --format text|json
  runs list --server [--experiment NAME]   The runs of MLFLOW_TRACKING_URI's server, whoever
                     logged them (MLflow's Python client too); --filter in MLflow's syntax:
                     "metrics.auc > 0.8 and params.lr = '0.1'"; --limit N, --format text|json
  runs show RUN      A run's stages, params, metrics, series, tags and logs.
  runs compare RUN RUN...   Params and metrics side by side; --all shows equal params.
  runs tag RUN KEY=VALUE... [--remove KEY]   Tag a run (mlpipe.candidate marks a model candidate).
  runs note RUN TEXT        Attach a note.
  runs delete RUN...        Delete runs (records and logs; cached outputs go with gc).
  runs gc [--keep N] [--older-than DAYS] [--dry-run]
                     Free the cache space of old runs (default: all but the newest 10);
                     never a running run, one tagged mlpipe.keep or mlpipe.candidate, or
                     the run a model card's approval names.
  runs reindex       Rebuild the run index from the run records.
  runs sync [--all]  Send the runs queued for MLflow (every run with --all) to
                     MLFLOW_TRACKING_URI now. With that variable set, run, tag and
                     note log to MLflow as they go; a server that is down leaves the
                     runs queued in .mlpipe/tracking/outbox, nothing is lost.
  RUN is a run id or a unique prefix of one.
  gate [--run RUN]   Whether a run's model may be released: the model card checks clean,
                     the card's metric thresholds are met, the cached artifact matches
                     the run's digest, the tree was clean (--allow-dirty acknowledges it),
                     and with --drift no dataset drift. Default run: the model candidate,
                     else the newest succeeded run.  --format text|json
  approve --by NAME [--run RUN] [--note TEXT]
                     Write the approval (who, when, run, artifact digest, metrics) into the
                     model card, when the gate passes; commit it for review.
  reject --by NAME --note TEXT [--run RUN]
                     Write a rejection into the model card.
  push [--to TARGET] [--dry-run]
                     Push the approved model version (model, card, metrics) to local
                     (.mlpipe/registry, an OCI image layout; the default),
                     oci://host[:port]/repo[:tag] (credentials from ~/.docker/config.json,
                     --ca-file for a private CA), oci+http://localhost:PORT/repo, or mlflow
                     (the Model Registry at MLFLOW_TRACKING_URI). Refused unless the card
                     approves exactly that artifact digest.
  card export --hf [CARD] [--output README.md] [--force]
                     The model card (default modelcard.yaml) as a Hugging Face README.md:
                     front matter with license, tags, datasets and a model-index of the
                     metrics' values from their metrics files, and the card's sections.
  card import README.md [--output modelcard.yaml] [--name NAME] [--force]
                     A Hugging Face model card as a model card (and its model-index values
                     as hf-model-index.json); reports what to fill in and what has no place.
  import dvc [dvc.yaml] [--image REF] [--output FILE] [--force] [--no-lock]
                     A DVC pipeline (dvc.yaml, params.yaml, vars) as a checked mlpipe.yaml,
                     with a report of what DVC-only parts were not carried over; stages
                     whose files match dvc.lock are seeded so that mlpipe run skips them.
      --image REF                       Image for every stage (default: the sample image)
      --format text|json
  drift [REF CUR]    Data drift between a reference and a current dataset (CSV, JSON
                     Lines, Parquet), column by column with Evidently's tests and
                     defaults; without files, the pipeline's monitor.drift section.
      --columns A,B                     Only these columns
      --method COL=METHOD               Force ks, chisquare, z, wasserstein,
                                        jensenshannon, psi or kl (repeatable)
      --drift-share X                   Share of drifted columns that is dataset
                                        drift (default 0.5)
      --format text|json|html           html: a self-contained report file
      --output FILE                     Write the report there
      --details                         JSON: include the histograms and ECDFs
      --fail-on-drift                   Exit 1 when the dataset drifted
      --delimiter , | ; | tab           CSV field delimiter (default: detected
                                        from the header line)
      --decimal . | ,                   CSV decimal mark (default: "."; with ";"
                                        as the delimiter "1,5" reads as 1.5 too)

  run, status, cancel, diff, checkout and runs work on mlpipe.yaml in the current folder,
  or --pipeline FILE.

Options:
  -h, --help         Show this help
  -v, --version      Show the version

Exit codes: 0 no errors, 1 errors found, 2 usage or I/O error.
`;

/** `mlpipe`, `mlpipe help|-h|--help` and `mlpipe -v|--version`: their exit code, or undefined for any other command. */
export function helpOrVersion(command: string | undefined, io: CliIo): number | undefined {
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    io.stdout(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === '-v' || command === '--version') {
    io.stdout(`${VERSION}\n`);
    return 0;
  }
  return undefined;
}
