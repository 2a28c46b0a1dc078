# A private Slurm cluster of one node (this host) for the end-to-end tests; sourced after
# lib.sh. slurm_start runs Debian's slurmctld and slurmd (slurm-wlm, installed by
# scripts/deps.sh --tests) in the background with -D, from a slurm.conf generated under
# $TMP with its own ports, state, spool and logs: no systemd, no cgroups
# (proctrack/linuxproc, task/none) and no munge daemon (AuthType=auth/none, which
# Slurm 22.05 still ships), as a CI container allows. It exports SLURM_CONF, so sbatch,
# squeue and scancel (and hnet, and the jobs) talk to this cluster only. It skips the
# test, saying why, only where Slurm cannot run here; the daemons it started are ended
# by their pids on exit, after their jobs are cancelled, even when the test fails.

SLURM_DIR=$TMP/slurm-local
SLURM_PIDS=""

slurm_stop() {
    [ -n "$SLURM_PIDS" ] || return 0
    scancel --quiet --user="$(id -un)" 2>/dev/null
    i=0 # let cancelled tasks end (SIGTERM) before their slurmd goes
    while [ $i -lt 20 ] && [ -n "$(squeue -h -o %i 2>/dev/null)" ]; do
        sleep 0.5
        i=$((i + 1))
    done
    for p in $SLURM_PIDS; do kill "$p" 2>/dev/null; done
    for p in $SLURM_PIDS; do wait "$p" 2>/dev/null; done
    SLURM_PIDS=""
}
trap 'slurm_stop; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

# slurm_log_tail: the end of both daemons' logs (for a failure or a skip)
slurm_log_tail() {
    for f in "$SLURM_DIR"/slurmctld.log "$SLURM_DIR"/slurmd.log; do
        [ -f "$f" ] && { echo "--- $(basename "$f"):"; tail -n 15 "$f"; }
    done
}

slurm_start() {
    for c in slurmctld slurmd sbatch squeue scancel sinfo python3; do
        command -v $c >/dev/null 2>&1 ||
            skip "$c is not installed (sh scripts/deps.sh --tests installs slurm-wlm)"
    done
    mkdir -p "$SLURM_DIR/state" "$SLURM_DIR/spool"
    node=$(hostname -s)
    user=$(id -un)
    # two free ports of this host, both held while they are chosen so they differ
    ports=$(python3 -c 'import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
    set -- $ports
    cat >"$SLURM_DIR/slurm.conf" <<EOF
ClusterName=hnettest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$1
SlurmdPort=$2
AuthType=auth/none
CredType=cred/none
SlurmUser=$user
SlurmdUser=$user
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/slurmctld.log
SlurmdLogFile=$SLURM_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
    # slurmd looks for cgroups even when no plugin uses them, and fails where no cgroup
    # file system is mounted unless told which version to expect (read beside slurm.conf)
    echo "CgroupPlugin=cgroup/v1" >"$SLURM_DIR/cgroup.conf"
    export SLURM_CONF="$SLURM_DIR/slurm.conf"
    slurmctld -D -f "$SLURM_CONF" >"$SLURM_DIR/slurmctld.out" 2>&1 &
    SLURM_PIDS="$!"
    slurmd -D -f "$SLURM_CONF" -N "$node" >"$SLURM_DIR/slurmd.out" 2>&1 &
    SLURM_PIDS="$SLURM_PIDS $!"
    i=0 # the node reports idle when both daemons are up and talking
    while [ $i -lt 60 ]; do
        [ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ] && {
            echo "ok: a local Slurm ($(slurmctld -V)) of one node ($node, $(nproc) CPUs) is up"
            return 0
        }
        for p in $SLURM_PIDS; do kill -0 "$p" 2>/dev/null || i=60; done
        sleep 0.5
        i=$((i + 1))
    done
    slurm_log_tail
    cat "$SLURM_DIR"/*.out
    # only root can run slurmd for real (it starts each job as its user); elsewhere a
    # daemon that would not come up means Slurm cannot run here, which is no failure
    [ "$(id -u)" = 0 ] || { slurm_stop; skip "slurmd/slurmctld did not start as user $user (not root); Slurm cannot run here"; }
    fail "the local Slurm did not come up (node state: '$(sinfo -h -N -o %T 2>&1)')"
}

# slurm_wait JOBID SECONDS: waits until no task of the job is queued or running.
slurm_wait() {
    i=0
    while [ -n "$(squeue -h -j "$1" -o %i 2>/dev/null)" ]; do
        [ $i -ge $(($2 * 2)) ] && { squeue; slurm_log_tail; fail "job $1 still queued or running after $2 s"; }
        sleep 0.5
        i=$((i + 1))
    done
}
