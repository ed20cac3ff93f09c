#!/usr/bin/env bash
# Stops the cluster scripts/cluster/up.sh started from RUN, and removes what it left on the machine.
# It touches only what that run recorded: the PIDs in RUN/pids (each checked against its recorded
# start time, so a reused PID is never signalled), containers of the containerds whose sockets are
# under RUN, and the namespaces, cgroups and caches named by the PREFIX in RUN/cluster.env. Nothing
# is killed by name. Safe to run twice, and after up.sh failed half way.
#
#   RUN=/path/to/state scripts/cluster/down.sh     (PREFIX, when given, must match the one RUN used)
#
# Order: kubelets (so that nothing restarts pods), every container of our containerds (ctr), the
# containerd shims serving our containerds, the other daemons in reverse start order, mounts under
# RUN, the pod network namespaces our containerds made, our network namespaces, our node cgroups,
# and the few files kubelet, libcni and the shims keep outside RUN.
set -uo pipefail

say() { echo "[cluster down] $*"; }
[ -n "${RUN:-}" ] || {
  echo "[cluster down] RUN (the state folder up.sh used) is required" >&2
  exit 2
}
RUN=${RUN%/}
[[ $RUN =~ ^/[A-Za-z0-9._/+-]+$ ]] || {
  echo "[cluster down] RUN must be an absolute path of letters, digits and ._/+- (got '$RUN')" >&2
  exit 2
}
if [ ! -d "$RUN" ]; then
  say "nothing to stop: $RUN does not exist"
  exit 0
fi
asked=${PREFIX:-}
PREFIX=""
[ -f "$RUN/cluster.env" ] && PREFIX=$(sed -n 's/^PREFIX=//p' "$RUN/cluster.env")
if [ -n "$PREFIX" ] && ! [[ $PREFIX =~ ^[a-z][a-z0-9]{0,7}$ ]]; then
  echo "[cluster down] $RUN/cluster.env names an invalid PREFIX '$PREFIX'" >&2
  exit 2
fi
if [ -n "$asked" ] && [ -n "$PREFIX" ] && [ "$asked" != "$PREFIX" ]; then
  echo "[cluster down] $RUN belongs to the cluster with PREFIX $PREFIX, not $asked" >&2
  exit 2
fi
problems=0

# ---- processes ----
# Fields of /proc/PID/stat after the command name: 1 state, 3 process group, 20 start time.
field() { sed -E 's/^.*\) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f"$2"; }
# ours PID STARTTIME: the recorded process is alive (a zombie waiting for init counts as gone).
ours() {
  local state
  state=$(field "$1" 1)
  [ -n "$state" ] && [ "$state" != Z ] && [ "$(field "$1" 20)" = "$2" ]
}
# stop PID NAME STARTTIME: SIGTERM, SIGKILL after 10 s. up.sh starts every daemon as the leader of
# its own session and group, so the group is signalled: that also reaches socat's per-connection
# children.
stop() {
  local pid=$1 name=$2 start=$3 target=$1
  ours "$pid" "$start" || return 0
  [ "$(field "$pid" 3)" = "$pid" ] && target=-$pid
  kill -TERM -- "$target" 2>/dev/null
  for _ in $(seq 1 100); do
    ours "$pid" "$start" || {
      say "stopped $name ($pid)"
      return 0
    }
    sleep 0.1
  done
  kill -KILL -- "$target" 2>/dev/null
  for _ in $(seq 1 20); do
    ours "$pid" "$start" || {
      say "killed $name ($pid) after 10 s"
      return 0
    }
    sleep 0.1
  done
  say "could not stop $name ($pid)"
  problems=1
}
touch "$RUN/pids"

# 1. kubelets
while read -r pid name start; do
  case $name in kubelet-*) stop "$pid" "$name" "$start" ;; esac
done <"$RUN/pids"

# 2. every container of our containerds (pod sandboxes included)
sockets=()
for socket in "$RUN"/n[0-9]*/containerd.sock; do [ -S "$socket" ] && sockets+=("$socket"); done
for socket in "${sockets[@]}"; do
  tasks=$(timeout 10 ctr --address "$socket" -n k8s.io tasks ls -q 2>/dev/null) || continue
  [ -n "$tasks" ] || continue
  for task in $tasks; do timeout 10 ctr --address "$socket" -n k8s.io tasks kill --all --signal SIGKILL "$task" >/dev/null 2>&1; done
  for task in $tasks; do timeout 10 ctr --address "$socket" -n k8s.io tasks delete --force "$task" >/dev/null 2>&1; done
  say "killed $(echo "$tasks" | wc -w) containers of $socket"
done

# 3. shims of our containerds (containerd-shim-runc-v2 ... -address RUN/nI/containerd.sock): they
#    exit once their tasks are deleted; those that do not within 5 s are killed.
our_shims() {
  local process
  for process in /proc/[0-9]*; do
    case $(readlink "$process/exe" 2>/dev/null) in */containerd-shim*) ;; *) continue ;; esac
    local arguments
    arguments=$(tr '\0' '\n' <"$process/cmdline" 2>/dev/null) || continue
    for socket in "$RUN"/n[0-9]*/containerd.sock; do
      if grep -qxF -- "$socket" <<<"$arguments"; then
        echo "${process#/proc/}"
        break
      fi
    done
  done
}
killed_shims=0
for _ in $(seq 1 50); do
  [ -z "$(our_shims)" ] && break
  sleep 0.1
done
for pid in $(our_shims); do
  kill -KILL "$pid" 2>/dev/null && say "killed shim $pid"
  killed_shims=1
done

# 4. the other daemons, newest first (the API server before etcd)
tac "$RUN/pids" | while read -r pid name start; do
  case $name in kubelet-*) ;; *) stop "$pid" "$name" "$start" ;; esac
done
left=0
while read -r pid name start; do
  if ours "$pid" "$start"; then
    say "still running: $name ($pid)"
    left=1
  fi
done <"$RUN/pids"
if [ "$left" -eq 0 ]; then : >"$RUN/pids"; else problems=1; fi

# 5. mounts under RUN (containerd's overlays and shm, kubelet's volumes), deepest first
for _ in 1 2 3; do
  mounts=$(awk -v run="$RUN/" 'index($2, run) == 1 { print $2 }' /proc/self/mounts | sort -r)
  [ -z "$mounts" ] && break
  while read -r mount; do umount "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null; done <<<"$mounts"
done
if awk -v run="$RUN/" 'index($2, run) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
  say "mounts left under $RUN"
  problems=1
fi

# 6. pod network namespaces (cni-*) our containerds made: their names are in our containerds' metadata
for netns in /run/netns/cni-*; do
  [ -e "$netns" ] || continue
  if grep -qsF "${netns##*/}" "$RUN"/n[0-9]*/containerd/root/io.containerd.metadata.v1.bolt/meta.db; then
    umount "$netns" 2>/dev/null
    rm -f "$netns" && say "removed pod network namespace ${netns##*/}"
  fi
done

if [ -n "$PREFIX" ]; then
  # 7. our network namespaces (the veths and bridges in them go with them)
  for netns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
    if [[ $netns =~ ^$PREFIX-(cp|n[0-9]+)$ ]]; then
      if ip netns del "$netns"; then say "removed network namespace $netns"; else problems=1; fi
    fi
  done
  # 8. node cgroups (kubelet's cgroupRoot /PREFIX-nI in every hierarchy), leaves first; a cgroup
  #    whose last process just died can stay busy for a moment.
  for cgroup in /sys/fs/cgroup/*/"$PREFIX"-n[0-9]*; do
    [ -d "$cgroup" ] || continue
    for _ in $(seq 1 30); do
      find "$cgroup" -depth -type d -exec rmdir {} \; 2>/dev/null
      [ -d "$cgroup" ] || break
      sleep 0.1
    done
    if [ -d "$cgroup" ]; then
      say "could not remove cgroup $cgroup"
      problems=1
    fi
  done
  # 9. libcni's cache of our pods' results (the network is named PREFIX; containerd also caches a
  #    loopback result per sandbox): sandboxes killed with ctr never get a CNI DEL.
  for result in /var/lib/cni/results/"$PREFIX"-*-eth0; do
    [ -e "$result" ] || continue
    id=${result#/var/lib/cni/results/"$PREFIX"-}
    id=${id%-eth0}
    [[ $id =~ ^[0-9a-f]+$ ]] || continue
    rm -f "$result" "/var/lib/cni/results/cni-loopback-$id-lo"
  done
fi

# 10. files kept outside RUN
# kubelet links /var/log/containers/*.log to its pods' logs (here under RUN)
for link in /var/log/containers/*.log; do
  [ -L "$link" ] || continue
  case $(readlink "$link") in "$RUN"/*) rm -f "$link" ;; esac
done
# a shim that had to be killed leaves its socket (/run/containerd/s/sha256(address/namespace/id))
# and runc's state (/run/containerd/runc/k8s.io/id) behind
if [ "$killed_shims" -eq 1 ]; then
  for bundle in "$RUN"/n[0-9]*/containerd/state/io.containerd.runtime.v2.task/k8s.io/*/; do
    [ -d "$bundle" ] || continue
    id=$(basename "$bundle")
    socket=$(echo "$bundle" | sed -E 's#/containerd/state/.*#/containerd.sock#')
    rm -f "/run/containerd/s/$(printf '%s' "$socket/k8s.io/$id" | sha256sum | cut -d' ' -f1)"
    if grep -qsF "\"$RUN/" "/run/containerd/runc/k8s.io/$id/state.json"; then rm -rf "/run/containerd/runc/k8s.io/$id"; fi
  done
fi
rmdir /run/containerd/runc/k8s.io /run/containerd/runc 2>/dev/null # runc's state folders, when empty
# every kubelet uses /var/lib/kubelet/device-plugins/kubelet.sock whatever its --root-dir: removed
# when no kubelet runs any more (another cluster's kubelets may share it)
kubelets=0
for process in /proc/[0-9]*; do
  case $(readlink "$process/exe" 2>/dev/null) in */kubelet) kubelets=1 ;; esac
done
if [ "$kubelets" -eq 0 ]; then
  rm -f /var/lib/kubelet/device-plugins/kubelet.sock
  # the folders kubelet and libcni create, when nothing is left in them
  rmdir /var/lib/kubelet/device-plugins /var/lib/kubelet /var/log/containers /var/lib/cni/results /var/lib/cni 2>/dev/null
fi

if [ "$problems" -ne 0 ]; then
  say "some of the cluster in $RUN is left (see above); run this again"
  exit 1
fi
# The claim on PREFIX is given up: running this again touches no namespace another cluster may own.
rm -f "$RUN/cluster.env"
say "down ($RUN)"
