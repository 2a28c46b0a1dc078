/* How this process was launched: the rank variables of MPI launchers, Slurm's srun and
 * torchrun-style launchers (the mapping is in dist/dist.h and README.md). */
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
    if (l->mpi)
        return agree(l, &slurm, "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", err) ||
                       agree(l, &torch, "RANK", "WORLD_SIZE", err)
                   ? HN_ERR
                   : HN_OK;

    /* no MPI launcher: a world of one, unless srun or torchrun-style variables ask for more */
    if (slurm.has_world && slurm.world > 1)
        return hn_fail(err,
                       "srun started %d tasks (SLURM_STEP_NUM_TASKS=%d, this is SLURM_PROCID=%d) but "
                       "not through MPI, and hnet's ranks talk through MPI: launch with "
                       "srun --mpi=pmix hnet run FILE (or mpirun -np %d hnet run FILE inside the "
                       "allocation)",
                       slurm.world, slurm.world, slurm.rank, slurm.world);
    if (torch.has_world && torch.world > 1)
        return hn_fail(err,
                       "WORLD_SIZE=%d (torchrun-style variables, this is RANK=%d) but no MPI launcher "
                       "started this process: hnet's ranks find each other through MPI, not through "
                       "MASTER_ADDR:MASTER_PORT; launch with mpirun -np %d hnet run FILE (or "
                       "srun --mpi=pmix under Slurm)",
                       torch.world, torch.has_rank ? torch.rank : 0, torch.world);
    if ((slurm.has_world || torch.has_world))
        snprintf(l->how, sizeof l->how, "one process (%s=1)",
                 slurm.has_world ? "SLURM_STEP_NUM_TASKS" : "WORLD_SIZE");
    return HN_OK;
}
