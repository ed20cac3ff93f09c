#!/usr/bin/env bash
# Builds the local test cluster's binaries from the Go module proxy into $1 (by default
# ~/.cache/mlpipe/kubernetes-v1.34.2): kube-apiserver, kube-controller-manager, kube-scheduler and
# kubelet and kubectl from k8s.io/kubernetes, etcd from go.etcd.io/etcd/server/v3, and the pause container's
# source (pause.c). Cold: 12-15 minutes on 2 cores; the Go caches are removed afterwards (about
# 3.5 GB), only the binaries (about 380 MB) are kept. Called by test/support/cluster.ts under a lock.
#
# k8s.io/kubernetes' go.mod replaces its staging modules with ./staging/..., which its module zip
# lacks, so `go install` cannot build it: a wrapper module requires it and replaces each staging
# module with its published v0.X.Y version instead.
set -euo pipefail
KUBERNETES=v1.34.2
ETCD=v3.6.5
out=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/mlpipe/kubernetes-$KUBERNETES}
mkdir -p "$(dirname "$out")"
work=$(mktemp -d "$(dirname "$out")/.build-kubernetes-XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
export GOMODCACHE="$work/gomod" GOCACHE="$work/gocache" GOFLAGS="-buildvcs=false -mod=mod -modcacherw" CGO_ENABLED=0 GOWORK=off
mkdir -p "$work/k8s" "$work/etcd" "$work/bin"

staging="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider cluster-bootstrap
code-generator component-base component-helpers controller-manager cri-api cri-client csi-translation-lib
dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy
kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission sample-apiserver"
{
  printf 'module mlpipe.local/kubernetes-build\n\ngo 1.24.0\n\ngodebug default=go1.24\n\n'
  printf 'require k8s.io/kubernetes %s\n\nreplace (\n' "$KUBERNETES"
  for module in $staging; do printf '\tk8s.io/%s => k8s.io/%s v0%s\n' "$module" "$module" "${KUBERNETES#v1}"; done
  printf ')\n'
} >"$work/k8s/go.mod"

minor=$(echo "$KUBERNETES" | cut -d. -f2)
flags="-s -w"
for package in k8s.io/component-base k8s.io/client-go/pkg; do
  flags="$flags -X $package/version.gitVersion=$KUBERNETES -X $package/version.gitMajor=1 -X $package/version.gitMinor=$minor -X $package/version.gitTreeState=clean"
done
# What an earlier build left is kept: only the missing binaries are built (kubectl came later).
[ -d "$out" ] && cp -a "$out/." "$work/bin/"
commands=()
for command in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
  [ -x "$work/bin/$command" ] || commands+=("k8s.io/kubernetes/cmd/$command")
done
if [ ${#commands[@]} -gt 0 ]; then
  echo "[cluster build] kubernetes $KUBERNETES: ${commands[*]##*/} (12-15 minutes on 2 cores for all, once)"
  (cd "$work/k8s" && go build -ldflags "$flags" -o "$work/bin/" "${commands[@]}")
fi
if [ ! -x "$work/bin/etcd" ]; then
  echo "[cluster build] etcd $ETCD"
  printf 'module mlpipe.local/etcd-build\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD" >"$work/etcd/go.mod"
  (cd "$work/etcd" && go build -ldflags "-s -w" -o "$work/bin/etcd" go.etcd.io/etcd/server/v3)
fi
if [ ! -f "$work/bin/pause.c" ]; then
  (cd "$work/k8s" && go mod download k8s.io/kubernetes)
  cp "$GOMODCACHE/k8s.io/kubernetes@$KUBERNETES/build/pause/linux/pause.c" "$work/bin/pause.c"
fi
"$work/bin/kubelet" --version
"$work/bin/kubectl" version --client
rm -rf "$out.partial" && mv "$work/bin" "$out.partial" && rm -rf "$out" && mv "$out.partial" "$out"
echo "[cluster build] done: $out"
