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

#endif
