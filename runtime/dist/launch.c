/* How this process was launched: the rank variables of MPI launchers, Slurm's srun and
 * torchrun-style launchers, MASTER_ADDR / MASTER_PORT and HNET_COMM (the mapping is in
 * dist/dist.h and README.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"

/* One variable as a non-negative int: 1 when set and well-formed, 0 when unset, HN_ERR
 * (with a message naming it) when set to anything else. */
static int env_int(const char *name, int *out, hn_error *err) {
    const char *v = getenv(name);
    if (!v) return 0;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < 0 || x > 1 << 24)
        return hn_fail(err, "%s='%s' is not a rank or a process count (expected a non-negative "
                            "integer)", name, v);
    *out = (int)x;
    return 1;
}

/* A (rank, world, local rank) triple named by one launcher's variables. */
typedef struct launcher_vars {
    int has_rank, has_world, rank, world, local_rank;
} launcher_vars;

static int read_vars(const char *rank, const char *world, const char *local, launcher_vars *v,
                     hn_error *err) {
    memset(v, 0, sizeof *v);
    int a = env_int(rank, &v->rank, err), b = world ? env_int(world, &v->world, err) : 0;
    int c = local ? env_int(local, &v->local_rank, err) : 0;
    if (a < 0 || b < 0 || c < 0) return HN_ERR;
    v->has_rank = a;
    v->has_world = b;
    if (b && v->world < 1) return hn_fail(err, "%s=0: a world needs at least one process", world);
    if (a && b && v->rank >= v->world)
        return hn_fail(err, "%s=%d is not below %s=%d", rank, v->rank, world, v->world);
    return HN_OK;
}

/* Variables of another launcher present beside the MPI launch must name the same rank. */
static int agree(const hn_dist_launch *l, const launcher_vars *v, const char *rank_var,
                 const char *world_var, hn_error *err) {
    if (v->has_rank && v->rank != l->rank)
        return hn_fail(err, "%s says rank %d but %s says rank %d: two launchers disagree about this "
                            "process (an environment left over from another job?)",
                       rank_var, v->rank, l->how, l->rank);
    if (v->has_world && l->world > 0 && v->world != l->world)
        return hn_fail(err, "%s says %d processes but %s says %d: two launchers disagree (an "
                            "environment left over from another job?)",
                       world_var, v->world, l->how, l->world);
    return HN_OK;
}

int hn_dist_comm_forced(hn_error *err) {
    const char *c = getenv("HNET_COMM");
    if (!c || !*c || !strcmp(c, "auto")) return 0;
    if (!strcmp(c, "nccl")) return 1;
    if (!strcmp(c, "mpi")) return 2;
    return hn_fail(err, "HNET_COMM='%s': expected nccl (the NCCL communicator, also for one "
                        "process), mpi (MPI's collectives also for mpirun -np 1) or auto (the "
                        "default: MPI under mpirun, NCCL for a run on cuda)", c);
}

/* MASTER_ADDR and MASTER_PORT, where rank 0 serves the NCCL id: both or neither. */
static int master(hn_dist_launch *l, hn_error *err) {
    const char *addr = getenv("MASTER_ADDR");
    int port = 0, has_port = env_int("MASTER_PORT", &port, err);
    if (has_port < 0) return HN_ERR;
    if (has_port && (port < 1 || port > 65535))
        return hn_fail(err, "MASTER_PORT=%d is not a TCP port (1 to 65535)", port);
    if (addr && !*addr) addr = NULL;
    if (!addr != !has_port)
        return hn_fail(err, "%s is set but %s is not: rank 0 serves the NCCL id on "
                            "MASTER_ADDR:MASTER_PORT, so set both (or neither, for one process)",
                       addr ? "MASTER_ADDR" : "MASTER_PORT", addr ? "MASTER_PORT" : "MASTER_ADDR");
    if (addr && strlen(addr) >= sizeof l->master_addr)
        return hn_fail(err, "MASTER_ADDR is %zu characters long (at most %zu)", strlen(addr),
                       sizeof l->master_addr - 1);
    if (addr) snprintf(l->master_addr, sizeof l->master_addr, "%s", addr);
    l->master_port = has_port ? port : 0;
    return HN_OK;
}

int hn_dist_detect(hn_dist_launch *l, hn_error *err) {
    memset(l, 0, sizeof *l);
    l->world = 1;
    snprintf(l->how, sizeof l->how, "one process");
    launcher_vars ompi, pmix, pmi, slurm, torch;
    if (read_vars("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
                  &ompi, err) ||
        read_vars("PMIX_RANK", NULL, NULL, &pmix, err) ||
        read_vars("PMI_RANK", "PMI_SIZE", NULL, &pmi, err) ||
        read_vars("RANK", "WORLD_SIZE", "LOCAL_RANK", &torch, err))
        return HN_ERR;
    /* Slurm's variables describe an srun task only inside a step: a batch script's own
     * environment has SLURM_NTASKS (the allocation's) and SLURM_PROCID=0 too, and is
     * one process */
    memset(&slurm, 0, sizeof slurm);
    if (getenv("SLURM_STEP_NUM_TASKS") &&
        read_vars("SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID", &slurm, err))
        return HN_ERR;

    int forced = hn_dist_comm_forced(err);
    if (forced < 0) return HN_ERR;

    if (ompi.has_rank && ompi.has_world) {
        l->mpi = 1;
        l->rank = ompi.rank;
        l->world = ompi.world;
        l->local_rank = ompi.local_rank;
        snprintf(l->how, sizeof l->how, "mpirun (OMPI_COMM_WORLD_RANK=%d, OMPI_COMM_WORLD_SIZE=%d)",
                 l->rank, l->world);
    } else if (pmix.has_rank) {
        l->mpi = 1;
        l->rank = pmix.rank;
        l->world = slurm.has_world ? slurm.world : 0; /* MPI_Init tells */
        l->local_rank = slurm.local_rank;
        snprintf(l->how, sizeof l->how, "a PMIx launcher (PMIX_RANK=%d)", l->rank);
    } else if (pmi.has_rank && pmi.has_world) {
        l->mpi = 1;
        l->rank = pmi.rank;
        l->world = pmi.world;
        l->local_rank = slurm.local_rank;
        snprintf(l->how, sizeof l->how, "a PMI launcher (PMI_RANK=%d, PMI_SIZE=%d)", l->rank, l->world);
    }
    if (forced == 2 && !l->mpi)
        return hn_fail(err, "HNET_COMM=mpi runs MPI's collectives, but %s: launch with mpirun -np "
                            "N hnet run FILE (or srun --mpi=pmix)",
                       l->world > 1 || slurm.has_world || torch.has_world
                           ? "no MPI launcher started this process"
                           : "this is one process that no MPI launcher started");
    l->nccl = l->mpi && forced == 1;
    l->mpi_alone = forced == 2;
    if (l->mpi)
        return agree(l, &slurm, "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", err) ||
                       agree(l, &torch, "RANK", "WORLD_SIZE", err)
                   ? HN_ERR
                   : HN_OK;

    /* no MPI launcher: a world of one, unless srun or torchrun-style variables ask for more,
     * which meet through NCCL (HNET_COMM=nccl: a world of one too) */
    const launcher_vars *v = slurm.has_world && slurm.world > 1 ? &slurm
                           : torch.has_world && torch.world > 1 ? &torch : NULL;
    const char *rank_var = v == &slurm ? "SLURM_PROCID" : "RANK";
    const char *world_var = v == &slurm ? "SLURM_STEP_NUM_TASKS" : "WORLD_SIZE";
    if (v && !v->has_rank)
        return hn_fail(err, "%s=%d but no %s: a launcher sets both (torchrun-style ones also "
                            "LOCAL_RANK, MASTER_ADDR, MASTER_PORT)", world_var, v->world, rank_var);
    if (v || forced) {
        l->nccl = 1;
        if (v) {
            l->rank = v->rank;
            l->world = v->world;
            l->local_rank = v->local_rank;
        } else if (torch.has_rank || slurm.has_world) { /* a world of one named by a launcher */
            l->local_rank = torch.has_rank ? torch.local_rank : slurm.local_rank;
        }
        snprintf(l->how, sizeof l->how, "%s%s=%d, %s=%d; NCCL)",
                 v == &slurm ? "srun (" : v ? "torchrun-style variables (" : "HNET_COMM=nccl (",
                 v == &slurm ? "SLURM_PROCID" : "RANK", l->rank, world_var, l->world);
        /* srun running a torchrun-style script sets both: they must name the same rank */
        if ((v == &slurm && agree(l, &torch, "RANK", "WORLD_SIZE", err)) ||
            (v == &torch && agree(l, &slurm, "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", err)))
            return HN_ERR;
        if (master(l, err)) return HN_ERR;
        if (l->world > 1 && !l->master_addr[0])
            return hn_fail(err,
                           "%s=%d ranks (this is %s=%d) meet through NCCL, rank 0 serving its id on "
                           "MASTER_ADDR:MASTER_PORT, but MASTER_ADDR and MASTER_PORT are not both set: "
                           "export them (rank 0's host and a free port, e.g. MASTER_ADDR=$(hostname) "
                           "MASTER_PORT=29500), or launch with mpirun -np %d hnet run FILE%s",
                           world_var, l->world, rank_var, l->rank, l->world,
                           v == &slurm ? " (or srun --mpi=pmix)" : "");
        return HN_OK;
    }
    if ((slurm.has_world || torch.has_world))
        snprintf(l->how, sizeof l->how, "one process (%s=1)",
                 slurm.has_world ? "SLURM_STEP_NUM_TASKS" : "WORLD_SIZE");
    return HN_OK;
}
