/* batchnorm.h — CPU kernels (filled by the op that uses them). */
#ifndef MT_KERNELS_CPU_BATCHNORM_H
#define MT_KERNELS_CPU_BATCHNORM_H
#include <stdint.h>

#endif
