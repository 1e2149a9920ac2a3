# Shared helpers of the tests that boot systemd containers (lab_systemd.sh, lab_deploy.sh).
# Sourced, not run. A container's root is an overlay of the host's root whose upper layer is a
# tmpfs (nothing the container changes reaches the host); systemd-nspawn boots systemd as its
# PID 1 inside a network namespace the test made. containerCleanup stops every container the test
# booted and removes their mounts and the cgroups and run-time files nspawn left, also after a
# failure. Every wait is bounded.
# shellcheck shell=bash disable=SC2034 # containerPid, containerLeader: read by the test that sources this

gContainerPids=()      # systemd-nspawn processes, children of the test's shell
gContainerNames=()     # their machine names
gContainerMounts=()    # mount points, in the order they were made
gContainerCgroups=()   # the cgroups nspawn made for itself (without a systemd on the host)
gContainerHadNspawnDir=0
[[ -d /run/systemd/nspawn ]] && gContainerHadNspawnDir=1

# containerRoot DIR: mounts a tmpfs on DIR/layers and an overlay of / on DIR/root. Returns 1 if
# a mount fails (what was mounted is still removed by containerCleanup).
containerRoot() {
    local dir=$1
    mkdir -p "$dir/layers" "$dir/root" || return 1
    mount -t tmpfs -o mode=0755 sasha-container "$dir/layers" || return 1
    gContainerMounts+=("$dir/layers")
    mkdir "$dir/layers/upper" "$dir/layers/work" || return 1
    mount -t overlay sasha-container -o "lowerdir=/,upperdir=$dir/layers/upper,workdir=$dir/layers/work" "$dir/root" || return 1
    gContainerMounts+=("$dir/root")
}

# containerBoot MACHINE ROOT NETNS LOG [UNIT]: boots systemd in ROOT, in the network namespace
# /run/netns/NETNS, console output to LOG, into UNIT (default basic.target: sysinit, journald,
# sysusers, tmpfiles, without the host's own services). Sets containerPid (nspawn) and
# containerLeader (the container's PID 1, for nsenter); returns 1 if no container started within
# 10 s. nspawn keeps CAP_NET_ADMIN out of a container's bounding set unless it makes the network
# itself; sashad's unit needs it (docs/deploy.md says so), hence --capability. /proc/sys/net is
# writable in the container (SYSTEMD_NSPAWN_API_VFS_WRITABLE=network), as nspawn makes it for a
# network of its own: the namespace is the container's alone; the rest of /proc/sys, which is the
# host kernel's, stays read-only. Must run in the test's own shell (not in $(...)): the cleanup
# waits for the process.
containerBoot() {
    local machine=$1 root=$2 netns=$3 log=$4 unit=${5:-basic.target} i
    [[ -e /run/systemd/nspawn/propagate/$machine ]] && { echo "a container $machine is already running (or was left behind)" >&2; return 1; }
    SYSTEMD_NSPAWN_API_VFS_WRITABLE=network systemd-nspawn --quiet --register=no --keep-unit --console=pipe --machine="$machine" -D "$root" \
        --capability=CAP_NET_ADMIN --network-namespace-path="/run/netns/$netns" -b -- "systemd.unit=$unit" \
        </dev/null >"$log" 2>&1 &
    containerPid=$!
    gContainerPids+=("$containerPid")
    gContainerNames+=("$machine")
    # The container's PID 1 is the child of nspawn in a PID namespace of its own; nspawn's first
    # child, in the host's, is only an intermediate that exits (nsenter to it fails), and nspawn
    # may briefly fork helpers into the container's namespace too. So the leader is the child
    # that is PID 1 in its namespace (the last field of NSpid: "NSpid: <host pid> 1"); a
    # fresh-clone CI run once took a short-lived child in the container's namespace for it.
    local hostPidNs child
    hostPidNs=$(readlink "/proc/$containerPid/ns/pid")
    containerLeader=""
    for ((i = 0; i < 50; i++)); do
        for child in $(pgrep -P "$containerPid"); do
            if [[ $(readlink "/proc/$child/ns/pid" 2>/dev/null) =~ ^pid: && $(readlink "/proc/$child/ns/pid") != "$hostPidNs" ]] \
                && [[ $(awk '/^NSpid:/ {print $NF}' "/proc/$child/status" 2>/dev/null) == 1 ]]; then
                containerLeader=$child
                return 0
            fi
        done
        sleep 0.2
    done
    return 1
}

# containerBooted LEADER: systemd in the container finished booting (running or degraded).
containerBooted() {
    [[ $(nsenter -t "$1" -a systemctl is-system-running 2>/dev/null) =~ ^(running|degraded)$ ]]
}

containerCleanup() {
    local pid i h d cg mount
    for pid in "${gContainerPids[@]}"; do
        kill -0 "$pid" 2>/dev/null || continue
        # Without a systemd on the host (--keep-unit), nspawn splits its own cgroup into
        # supervisor/ and payload/, empty once the container is gone: removed below.
        cg=$(sed -n 's/^0:://p' "/proc/$pid/cgroup" 2>/dev/null)
        [[ $cg == */supervisor ]] && gContainerCgroups+=("${cg%/supervisor}")
        kill -TERM "$pid" 2>/dev/null   # nspawn asks the container's systemd to power off
    done
    for pid in "${gContainerPids[@]}"; do
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for ((i = ${#gContainerMounts[@]} - 1; i >= 0; i--)); do
        mount=${gContainerMounts[i]}
        umount "$mount" 2>/dev/null || umount -l "$mount"
    done
    for cg in "${gContainerCgroups[@]}"; do
        for h in /sys/fs/cgroup /sys/fs/cgroup/unified /sys/fs/cgroup/systemd; do
            for d in payload supervisor; do
                [[ -d $h$cg/$d ]] && find "$h$cg/$d" -depth -type d -exec rmdir {} + 2>/dev/null
            done
        done
    done
    for d in "${gContainerNames[@]}"; do rm -rf "/run/systemd/nspawn/propagate/$d"; done
    ((gContainerHadNspawnDir)) || rm -rf /run/systemd/nspawn
    gContainerPids=() gContainerMounts=() gContainerCgroups=() gContainerNames=()
    return 0
}
