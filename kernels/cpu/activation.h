/* activation.h — CPU kernels (filled by the op that uses them). */
#ifndef MT_KERNELS_CPU_ACTIVATION_H
#define MT_KERNELS_CPU_ACTIVATION_H
#include <stdint.h>

#endif
