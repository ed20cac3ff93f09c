// Builds what the cluster tests and `npm run bench:cluster` need, unless cached in ~/.cache/mlpipe:
// Kubernetes and etcd from their Go modules (12-15 minutes cold on 2 cores), the S3 server, and
// mlpipe's pod helper image. scripts/test.mjs runs this before the cluster tier, so a cold build
// does not count against the tier's budget.
import { ensurePodHelper } from './pod-helper';
import { ensureKubernetes } from '../test/support/cluster';
import { ensureWeed } from '../test/support/s3-server';

console.log(`[cluster] kubernetes ${ensureKubernetes()}`);
console.log(`[cluster] seaweedfs ${ensureWeed()}`);
console.log(`[cluster] pod helper ${ensurePodHelper().archive}`);
