/* executor.h — internal executor hooks used by the module. */
#ifndef MT_SRC_EXECUTOR_H
#define MT_SRC_EXECUTOR_H
#include "modtrain.h"

/* Called during backward as soon as the gradient of argument `arg` (index
 * in list_arguments order) is final: after the last node that writes it,
 * which lets gradient buckets start reducing while backward goes on. */
typedef int (*mt_grad_ready_fn)(void *user, int arg);
void mt_executor_set_grad_hook(mt_executor *ex, mt_grad_ready_fn fn, void *user);

#endif
