import { isTransientStatus } from '../tracking/transfer';
import { PushError } from './types';

/* What an OCI push that failed says, for people (the message) and for programs (where, how far). */

/** What a failed push left in the registry. */
export interface PartialPush {
  /** Blobs the registry holds (uploaded, mounted or already there) of all the artifact's blobs. */
  blobsStored: number;
  blobsTotal: number;
  /** Whether the manifest was put (the tag may then name it; the check after failed). */
  manifestPut: boolean;
}

/** An OCI push failure, with where it failed, for programs; the message says it all for people. */
export class RegistryPushError extends PushError {
  /** Set on the error pushToOci throws: the artifact was not pushed, and how far it got. */
  partial?: PartialPush;

  constructor(
    message: string,
    status: number | undefined,
    readonly registry: string,
    readonly step: string,
    /** The registry's error code (`UNAUTHORIZED`, `DIGEST_INVALID`...) or the network error's (`ECONNRESET`, `STALLED`, `DEADLINE`, `TOO_LARGE`). */
    readonly code?: string,
  ) {
    super(message, status);
    this.name = 'RegistryPushError';
  }

  /** Worth another try of the same step: the connection broke or stalled, or the registry said 429/502/503/504. */
  get transient(): boolean {
    return TRANSIENT_CODES.has(this.code ?? '') || (this.status !== undefined && isTransientStatus(this.status));
  }
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'STALLED',
  'TRUNCATED',
  'EAI_AGAIN',
]);
