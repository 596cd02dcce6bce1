/* loss.h — CPU kernels (filled by the op that uses them). */
#ifndef MT_KERNELS_CPU_LOSS_H
#define MT_KERNELS_CPU_LOSS_H
#include <stdint.h>

#endif
