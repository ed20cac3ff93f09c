// Builds the S3 server the remote tests and `npm run bench:remote` start (SeaweedFS, from its Go
// module, into ~/.cache/mlpipe) unless it is cached: scripts/test.mjs runs this before the remote
// tier, so a cold build (minutes) does not count against the tier's budget.
import { ensureWeed } from '../test/support/s3-server';

console.log(`[seaweedfs] ${ensureWeed()}`);
