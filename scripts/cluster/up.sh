#!/usr/bin/env bash
# Starts a local Kubernetes cluster made of unmodified upstream programs, for mlpipe's tests and for
# people (`npm run cluster:up`): etcd, kube-apiserver, kube-controller-manager and kube-scheduler in
# one network namespace, and NODES nodes, each a containerd and a kubelet in a namespace of its own.
# Nothing listens outside those namespaces except the API on the host's 127.0.0.1:API_PORT; nothing
# is downloaded. Binaries come from scripts/cluster/build.sh. Stop it with scripts/cluster/down.sh
# and the same RUN (also after this script failed half way).
#
# Settings (environment):
#   RUN       state folder (required; an absolute path without spaces): PIDs, logs, keys, etcd data,
#             containerd/kubelet state, admin.kubeconfig (TLS-verified, token) and wrong.kubeconfig
#   BIN       binaries (default ~/.cache/mlpipe/kubernetes-v1.34.2, MLPIPE_CACHE_DIR moves it)
#   NODES     number of nodes (default 2), named PREFIX-n1, PREFIX-n2, ...
#   PREFIX    names of its network namespaces (PREFIX-cp, PREFIX-nI), veths and node cgroups
#             (default mlk0; a lowercase letter and up to 7 lowercase letters or digits)
#   NET       its addresses are 10.NET.0.0/16 (default 99): control plane 10.NET.0.1, node I
#             10.NET.0.(10+I), pods of node I 10.NET.I.0/24; services 10.96.0.0/24
#   API_PORT  host loopback port of the API (default 6443)
#   IMAGES    space-separated image archives (OCI or `docker save`) imported into every node
#   S3_PORT   when set, pods reach the host's 127.0.0.1:S3_PORT at http://10.NET.255.1:S3_PORT, the
#             same address on every node (presigned URLs sign the Host header)
#
# Two clusters run side by side when RUN, PREFIX, NET and API_PORT differ. The first namespace,
# PREFIX-cp, is the claim on PREFIX: when it exists already this exits with status 75 having
# changed nothing (pick another PREFIX/NET). Network namespaces are entered with `nsenter --net`:
# `ip netns exec` remounts /sys, which hides the cgroup mounts the kubelet needs.
set -euo pipefail

KUBERNETES=v1.34.2
CACHE=${MLPIPE_CACHE_DIR:-${HOME}/.cache/mlpipe}
BIN=${BIN:-$CACHE/kubernetes-$KUBERNETES}
# kubectl built from the same module as the cluster, ahead of any other.
export PATH="$BIN:$PATH"
NODES=${NODES:-2}
PREFIX=${PREFIX:-mlk0}
NET=${NET:-99}
API_PORT=${API_PORT:-6443}
IMAGES=${IMAGES:-}
S3_PORT=${S3_PORT:-}
PAUSE_IMAGE=localhost/mlpipe-pause:1
CP=$PREFIX-cp
CP_IP=10.$NET.0.1
S3_IP=10.$NET.255.1
started=$(date +%s)

# fd 3 is stderr, also inside commands whose output is discarded (until_ok).
exec 3>&2
say() { echo "[cluster up $(($(date +%s) - started))s] $*"; }
fail() {
  echo "[cluster up] $*" >&3
  exit 1
}

# ---- settings ----
[ -n "${RUN:-}" ] || fail "RUN (the state folder) is required"
[[ $RUN =~ ^/[A-Za-z0-9._/+-]+$ ]] || fail "RUN must be an absolute path of letters, digits and ._/+- (got '$RUN')"
RUN=${RUN%/}
[[ $PREFIX =~ ^[a-z][a-z0-9]{0,7}$ ]] || fail "PREFIX must be a lowercase letter and up to 7 lowercase letters or digits (got '$PREFIX')"
number() { # number NAME VALUE MIN MAX
  if ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then fail "$1 must be a number from $3 to $4 (got '$2')"; fi
}
number NET "$NET" 1 254
number NODES "$NODES" 1 50
number API_PORT "$API_PORT" 1 65535
[ -z "$S3_PORT" ] || number S3_PORT "$S3_PORT" 1 65535
# Unix socket paths are limited to 107 bytes.
[ ${#RUN} -le 80 ] || fail "RUN is too long for the Unix sockets under it (${#RUN} > 80 characters): $RUN"
for program in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl etcd; do
  [ -x "$BIN/$program" ] || fail "$BIN/$program is missing: build it with scripts/cluster/build.sh"
done
for tool in containerd runc ctr socat nsenter setsid ip openssl gcc; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install -y containerd runc containernetworking-plugins socat gcc libc6-dev openssl iproute2 util-linux)"
done
for plugin in bridge host-local loopback; do
  [ -x "/usr/lib/cni/$plugin" ] || fail "the CNI plugin /usr/lib/cni/$plugin is missing: apt-get install -y containernetworking-plugins"
done
[ "$(id -u)" -eq 0 ] || fail "a cluster needs root (network namespaces, cgroups, containerd)"
if [ -s "$RUN/pids" ]; then fail "$RUN/pids is not empty: a cluster runs from $RUN (stop it with RUN=$RUN scripts/cluster/down.sh)"; fi
if grep -qF " $RUN/" /proc/self/mounts; then fail "there are mounts under $RUN: run RUN=$RUN scripts/cluster/down.sh first"; fi

mkdir -p "$RUN"
chmod 700 "$RUN"
# ---- the claim on PREFIX ----
mkdir -p /run/netns
if ! error=$(ip netns add "$CP" 2>&1); then
  [ -e "/run/netns/$CP" ] || fail "ip netns add $CP failed: $error"
  echo "[cluster up] network namespace $CP exists: PREFIX $PREFIX is in use by another cluster (or one whose state is lost: ip netns del $CP)" >&2
  exit 75
fi
# down.sh touches namespaces and cgroups only when this file names them.
printf 'PREFIX=%s\nNET=%s\nNODES=%s\nAPI_PORT=%s\nS3_PORT=%s\n' "$PREFIX" "$NET" "$NODES" "$API_PORT" "$S3_PORT" >"$RUN/cluster.env"
failed() {
  local status=$?
  [ "$status" -eq 0 ] || echo "[cluster up] failed ($status); logs in $RUN/logs; stop what started with: RUN=$RUN scripts/cluster/down.sh" >&3
}
trap failed EXIT

# What an earlier run left (down.sh has stopped it: pids is empty and nothing is mounted).
rm -rf "$RUN/pki" "$RUN/etcd" "$RUN/logs" "$RUN/flex-volume-plugins" "$RUN/kubectl-cache" "$RUN"/n[0-9]* "$RUN"/*.sock "$RUN"/*.kubeconfig
mkdir -p "$RUN/pki" "$RUN/logs"
: >"$RUN/pids"

# start NAME NETNS|- COMMAND...: a daemon in its own session (no terminal's or test runner's signal
# reaches it), recorded as "PID NAME STARTTIME" so that down.sh never signals a reused PID.
start() {
  local name=$1 ns=$2 pid
  shift 2
  local enter=()
  [ "$ns" = - ] || enter=(nsenter "--net=/run/netns/$ns")
  setsid "${enter[@]}" "$@" </dev/null >"$RUN/logs/$name.log" 2>&1 &
  pid=$!
  echo "$pid $name $(starttime "$pid")" >>"$RUN/pids"
}
starttime() { sed -E 's/^.*\) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
running() { # running NAME: whether the daemon recorded under NAME is alive
  local pid
  pid=$(awk -v n="$1" '$2 == n { print $1 }' "$RUN/pids")
  [ -n "$pid" ] && [ -e "/proc/$pid" ] && [ "$(sed -E 's/^.*\) //' "/proc/$pid/stat" | cut -d' ' -f1)" != Z ]
}
# until SECONDS WHAT DAEMON COMMAND...: waits for COMMAND to succeed; fails early when DAEMON died.
until_ok() {
  local seconds=$1 what=$2 daemon=$3 deadline
  shift 3
  deadline=$(($(date +%s) + seconds))
  until "$@" >/dev/null 2>&1; do
    if ! running "$daemon"; then
      tail -n 30 "$RUN/logs/$daemon.log" >&3 || true
      fail "$daemon exited while waiting for $what (log: $RUN/logs/$daemon.log)"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      tail -n 30 "$RUN/logs/$daemon.log" >&3 || true
      fail "timed out after ${seconds}s waiting for $what (log: $RUN/logs/$daemon.log)"
    fi
    sleep 0.25
  done
  say "$what"
}
in_ns() { local ns=$1; shift; nsenter "--net=/run/netns/$ns" "$@"; }

# ---- the pause image (pod sandboxes), built once next to the binaries ----
# image_archive ROOTFS NAME ENTRYPOINT_JSON OUT: a one-layer image archive in the OCI layout, with a
# `docker save` manifest.json beside it, which both `ctr images import` and `docker load` accept.
image_archive() {
  local rootfs=$1 name=$2 entrypoint=$3 out=$4 dir layer config manifest tag arch
  dir=$(mktemp -d "$out.XXXXXX.d")
  mkdir -p "$dir/blobs/sha256"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$rootfs" -cf "$dir/layer.tar" .
  layer=$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)
  mv "$dir/layer.tar" "$dir/blobs/sha256/$layer"
  arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
  printf '{"architecture":"%s","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":%s},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"mlpipe scripts/cluster/up.sh"}]}' \
    "$arch" "$entrypoint" "$layer" >"$dir/config.json"
  config=$(sha256sum "$dir/config.json" | cut -d' ' -f1)
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config" "$(stat -c %s "$dir/config.json")" "$layer" "$(stat -c %s "$dir/blobs/sha256/$layer")" >"$dir/manifest.oci.json"
  manifest=$(sha256sum "$dir/manifest.oci.json" | cut -d' ' -f1)
  tag=${name##*:}
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest" "$(stat -c %s "$dir/manifest.oci.json")" "$name" "$tag" >"$dir/index.json"
  printf '[{"Config":"blobs/sha256/%s","RepoTags":["%s"],"Layers":["blobs/sha256/%s"]}]' "$config" "$name" "$layer" >"$dir/manifest.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
  mv "$dir/config.json" "$dir/blobs/sha256/$config"
  mv "$dir/manifest.oci.json" "$dir/blobs/sha256/$manifest"
  tar --owner=0 --group=0 --numeric-owner -C "$dir" -cf "$out.tmp.$$" oci-layout index.json manifest.json blobs
  mv -f "$out.tmp.$$" "$out"
  rm -rf "$dir"
}
PAUSE_ARCHIVE=${PAUSE_ARCHIVE:-$BIN/pause.tar}
if [ ! -s "$PAUSE_ARCHIVE" ]; then
  [ -f "$BIN/pause.c" ] || fail "$BIN/pause.c is missing: rebuild with scripts/cluster/build.sh"
  rootfs=$(mktemp -d)
  gcc -Os -static -DVERSION=mlpipe -o "$rootfs/pause" "$BIN/pause.c" || fail "gcc could not build pause.c statically: apt-get install -y gcc libc6-dev"
  strip "$rootfs/pause" 2>/dev/null || true
  image_archive "$rootfs" "$PAUSE_IMAGE" '["/pause"]' "$PAUSE_ARCHIVE"
  rm -rf "$rootfs"
  say "built the pause image $PAUSE_ARCHIVE"
fi
for image in $IMAGES; do [ -f "$image" ] || fail "image archive $image does not exist"; done

# ---- credentials: a CA, the API server's serving certificate, tokens, the service-account key ----
pki=$RUN/pki
cat >"$pki/ca.cnf" <<EOF
[req]
distinguished_name = subject
prompt = no
x509_extensions = ca
[subject]
CN = mlpipe-local CA ($PREFIX)
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
EOF
cat >"$pki/apiserver.ext" <<EOF
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1,IP:$CP_IP,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
EOF
{
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -config "$pki/ca.cnf" -keyout "$pki/ca.key" -out "$pki/ca.crt"
  openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr"
  openssl x509 -req -sha256 -days 825 -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -set_serial "0x$(openssl rand -hex 12)" -extfile "$pki/apiserver.ext" -out "$pki/apiserver.crt"
  openssl genrsa -out "$pki/sa.key" 2048
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
} >"$RUN/logs/openssl.log" 2>&1
chmod 600 "$pki"/*.key
TOKEN=$(openssl rand -hex 32)
echo "$TOKEN,mlpipe-admin,mlpipe-admin,\"system:masters\"" >"$pki/tokens.csv"
chmod 600 "$pki/tokens.csv"
CA_DATA=$(base64 -w0 "$pki/ca.crt")
kubeconfig() { # kubeconfig FILE SERVER TOKEN
  (
    umask 077
    cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: mlpipe-local
  cluster:
    server: $2
    certificate-authority-data: $CA_DATA
users:
- name: mlpipe-local-admin
  user:
    token: $3
contexts:
- name: mlpipe-local
  context:
    cluster: mlpipe-local
    user: mlpipe-local-admin
    namespace: default
current-context: mlpipe-local
EOF
  )
}
kubeconfig "$RUN/admin.kubeconfig" "https://127.0.0.1:$API_PORT" "$TOKEN"
kubeconfig "$RUN/wrong.kubeconfig" "https://127.0.0.1:$API_PORT" "$(openssl rand -hex 32)"
kubeconfig "$RUN/control-plane.kubeconfig" "https://127.0.0.1:6443" "$TOKEN"
kubeconfig "$RUN/node.kubeconfig" "https://$CP_IP:6443" "$TOKEN"
export KUBECONFIG=$RUN/admin.kubeconfig KUBECACHEDIR=$RUN/kubectl-cache
say "credentials"

# ---- control plane ----
ip -n "$CP" link set lo up
ip -n "$CP" link add k8s0 type bridge
ip -n "$CP" addr add "$CP_IP/24" dev k8s0
ip -n "$CP" link set k8s0 up

start etcd "$CP" "$BIN/etcd" --name "$PREFIX" --data-dir "$RUN/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster "$PREFIX=http://127.0.0.1:2380" --listen-metrics-urls http://127.0.0.1:2381 \
  --unsafe-no-fsync --quota-backend-bytes 1073741824 --log-level warn
until_ok 30 "etcd" etcd in_ns "$CP" bash -c 'exec 3<>/dev/tcp/127.0.0.1/2379'

start kube-apiserver "$CP" "$BIN/kube-apiserver" \
  --etcd-servers=http://127.0.0.1:2379 \
  --bind-address=0.0.0.0 --secure-port=6443 --advertise-address="$CP_IP" \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
  --token-auth-file="$pki/tokens.csv" --anonymous-auth=false \
  --authorization-mode=Node,RBAC \
  --service-account-key-file="$pki/sa.pub" \
  --service-account-signing-key-file="$pki/sa.key" \
  --service-account-issuer=https://kubernetes.default.svc \
  --service-cluster-ip-range=10.96.0.0/24 \
  --kubelet-preferred-address-types=InternalIP \
  --allow-privileged=true \
  --enable-priority-and-fairness=false \
  --profiling=false
# The host reaches the API through a Unix socket: 127.0.0.1:API_PORT -> RUN/api.sock -> (in PREFIX-cp)
# 127.0.0.1:6443. Connecting is lazy, so both can start before the API server listens.
start api-socket "$CP" socat "UNIX-LISTEN:$RUN/api.sock,fork,unlink-early,mode=600" TCP:127.0.0.1:6443
until_ok 10 "API socket" api-socket test -S "$RUN/api.sock"
start api-port - socat "TCP-LISTEN:$API_PORT,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$RUN/api.sock"
ready() {
  running api-port || fail "socat could not listen on 127.0.0.1:$API_PORT (in use? pick another API_PORT): $(cat "$RUN/logs/api-port.log")"
  [ "$(kubectl get --raw=/readyz 2>/dev/null)" = ok ]
}
until_ok 90 "kube-apiserver on https://127.0.0.1:$API_PORT (TLS verified)" kube-apiserver ready

start kube-controller-manager "$CP" "$BIN/kube-controller-manager" \
  --kubeconfig="$RUN/control-plane.kubeconfig" \
  --authentication-kubeconfig="$RUN/control-plane.kubeconfig" \
  --authorization-kubeconfig="$RUN/control-plane.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port=10257 --leader-elect=false \
  --service-account-private-key-file="$pki/sa.key" \
  --root-ca-file="$pki/ca.crt" \
  --use-service-account-credentials=false \
  --flex-volume-plugin-dir="$RUN/flex-volume-plugins" \
  --profiling=false
start kube-scheduler "$CP" "$BIN/kube-scheduler" \
  --kubeconfig="$RUN/control-plane.kubeconfig" \
  --authentication-kubeconfig="$RUN/control-plane.kubeconfig" \
  --authorization-kubeconfig="$RUN/control-plane.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false --profiling=false
kubectl create namespace ml >/dev/null

# ---- S3 forward: pods -> 10.NET.255.1:S3_PORT (in each node) -> RUN/s3.sock -> host 127.0.0.1:S3_PORT ----
if [ -n "$S3_PORT" ]; then
  start s3-host - socat "UNIX-LISTEN:$RUN/s3.sock,fork,unlink-early,mode=600" "TCP:127.0.0.1:$S3_PORT"
  until_ok 10 "S3 socket" s3-host test -S "$RUN/s3.sock"
fi

# ---- nodes ----
for i in $(seq 1 "$NODES"); do
  ns=$PREFIX-n$i
  name=$PREFIX-n$i
  ip=10.$NET.0.$((10 + i))
  node=$RUN/n$i
  mkdir -p "$node/cni" "$node/containerd" "$node/kubelet" "$node/pod-logs"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$CP" link add "$PREFIX-v$i" type veth peer name eth0 netns "$ns"
  ip -n "$CP" link set "$PREFIX-v$i" master k8s0 up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set eth0 up
  if [ -n "$S3_PORT" ]; then
    ip -n "$ns" addr add "$S3_IP/32" dev lo
    start "s3-n$i" "$ns" socat "TCP-LISTEN:$S3_PORT,bind=$S3_IP,reuseaddr,fork" "UNIX-CONNECT:$RUN/s3.sock"
  fi

  # Pods get 10.NET.I.0/24 on a bridge inside the node's namespace; the network is named PREFIX so
  # that down.sh can find what libcni caches under /var/lib/cni/results.
  cat >"$node/cni/10-mlpipe.conflist" <<EOF
{"cniVersion":"0.4.0","name":"$PREFIX","plugins":[{"type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":false,"hairpinMode":false,"ipam":{"type":"host-local","dataDir":"$node/cni-ipam","ranges":[[{"subnet":"10.$NET.$i.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}}]}
EOF
  cat >"$node/containerd.toml" <<EOF
version = 2
root = "$node/containerd/root"
state = "$node/containerd/state"
# the opt plugin would create /opt/containerd; the others only log that they cannot work here
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$node/containerd.sock"
[ttrpc]
  address = "$node/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  enable_selinux = false
  # Without CAP_SYS_RESOURCE a negative oom_score_adj (CRI gives sandboxes -998) makes runc fail
  # with "can't get final child's PID from pipe: EOF": never go below containerd's own score.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$node/cni"
    max_conf_num = 1
EOF
  # The kubelet's cgroupRoot must exist in every v1 hierarchy (cgroupfs driver, no systemd).
  for hierarchy in /sys/fs/cgroup/*/; do
    [ "$hierarchy" = /sys/fs/cgroup/unified/ ] && continue
    mkdir -p "$hierarchy$name"
    if [ -f "${hierarchy}cpuset.cpus" ]; then
      cat "${hierarchy}cpuset.cpus" >"$hierarchy$name/cpuset.cpus"
      cat "${hierarchy}cpuset.mems" >"$hierarchy$name/cpuset.mems"
    fi
  done
  start "containerd-n$i" "$ns" containerd --config "$node/containerd.toml"
done
for i in $(seq 1 "$NODES"); do
  node=$RUN/n$i
  until_ok 30 "containerd of $PREFIX-n$i" "containerd-n$i" ctr --address "$node/containerd.sock" version
  for image in "$PAUSE_ARCHIVE" $IMAGES; do
    ctr --address "$node/containerd.sock" -n k8s.io images import "$image" >>"$RUN/logs/images.log" 2>&1 ||
      fail "ctr could not import $image into $PREFIX-n$i: $(tail -n 5 "$RUN/logs/images.log")"
  done
  ip=10.$NET.0.$((10 + i))
  cat >"$node/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
address: $ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
cgroupDriver: cgroupfs
cgroupRoot: /$PREFIX-n$i
failSwapOn: false
failCgroupV1: false
oomScoreAdj: 0
containerRuntimeEndpoint: unix://$node/containerd.sock
podLogsDir: $node/pod-logs
resolvConf: ""
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
maxPods: 50
volumePluginDir: $node/kubelet/volume-plugins
EOF
  start "kubelet-n$i" "$PREFIX-n$i" "$BIN/kubelet" --config="$node/kubelet.yaml" --kubeconfig="$RUN/node.kubeconfig" \
    --root-dir="$node/kubelet" --cert-dir="$node/kubelet/pki" --node-ip="$ip" --hostname-override="$PREFIX-n$i"
done
say "images imported, kubelets started"

node_ready() { [ "$(kubectl get node "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }
for i in $(seq 1 "$NODES"); do
  until_ok 120 "node $PREFIX-n$i Ready" "kubelet-n$i" node_ready "$PREFIX-n$i"
done
for namespace in default ml; do
  until_ok 60 "service account $namespace/default" kube-controller-manager kubectl get serviceaccount default -n "$namespace"
  until_ok 60 "config map $namespace/kube-root-ca.crt" kube-controller-manager kubectl get configmap kube-root-ca.crt -n "$namespace"
done
trap - EXIT
say "cluster up: export KUBECONFIG=$RUN/admin.kubeconfig (context mlpipe-local; namespaces default, ml)"
