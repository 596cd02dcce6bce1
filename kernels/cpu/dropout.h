/* dropout.h — CPU kernels (filled by the op that uses them). */
#ifndef MT_KERNELS_CPU_DROPOUT_H
#define MT_KERNELS_CPU_DROPOUT_H
#include <stdint.h>

#endif
