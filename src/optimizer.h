/* optimizer.h — internal declarations shared by optimizer.c and
 * lr_scheduler.c (the public API is in include/modtrain.h). */
#ifndef MT_SRC_OPTIMIZER_H
#define MT_SRC_OPTIMIZER_H
#include "modtrain.h"

/* Overwrites the scheduler's mutable base_lr, as MXNet's Optimizer.__init__
 * does with `lr_scheduler.base_lr = learning_rate`. */
void mt_lr_scheduler_set_base_lr(mt_lr_scheduler *s, double base_lr);

/* mt_optimizer_update on a CPU parameter with the gradient checked for NaN
 * and Inf block by block, each block just before it is applied (one pass
 * over the gradient instead of two). On the first non-finite block *finite
 * = 0 and the update stops there: that block and the rest of the parameter
 * keep their values, earlier blocks have taken the step. */
int mt_optimizer_update_finite(mt_optimizer *opt, int index, const char *name, mt_ndarray *weight,
                               const mt_ndarray *grad, int *finite);

/* The node-shared update (module.c): ranks that share their parameters and
 * optimizer state in memory each update a slice of them.
 *
 * begin_update counts one update of `index` and fixes its lr and wd for
 * this step (every rank, every parameter, once a step, so counts and
 * schedules agree); apply_range then updates elements [off, off + n) with
 * the NaN/Inf check of mt_optimizer_update_finite. CPU arrays only. */
int mt_optimizer_begin_update(mt_optimizer *opt, int index, const char *name, mt_ndarray *weight,
                              const mt_ndarray *grad);
int mt_optimizer_apply_range(mt_optimizer *opt, int index, mt_ndarray *weight,
                             const mt_ndarray *grad, int64_t off, int64_t n, int *finite);
/* Floats of state one parameter of `size` elements needs (0: stateless). */
int64_t mt_optimizer_state_floats(const mt_optimizer *opt, int64_t size);
/* The states of `index` move to buf (mt_optimizer_state_floats floats,
 * 64-byte aligned, the caller's: never freed by the optimizer): the states
 * it had are copied there, else buf is zeroed. */
int mt_optimizer_place_state(mt_optimizer *opt, int index, const char *name,
                             const mt_ndarray *weight, float *buf);
/* Every placed state moves back to memory of the optimizer's own. */
int mt_optimizer_own_states(mt_optimizer *opt);

#endif
