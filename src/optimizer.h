/* optimizer.h — internal declarations shared by optimizer.c and
 * lr_scheduler.c (the public API is in include/modtrain.h). */
#ifndef MT_SRC_OPTIMIZER_H
#define MT_SRC_OPTIMIZER_H
#include "modtrain.h"

/* Overwrites the scheduler's mutable base_lr, as MXNet's Optimizer.__init__
 * does with `lr_scheduler.base_lr = learning_rate`. */
void mt_lr_scheduler_set_base_lr(mt_lr_scheduler *s, double base_lr);

#endif
