/* nn.h — index of the neural-network kernels (one header per op family). */
#ifndef MT_KERNELS_CPU_NN_H
#define MT_KERNELS_CPU_NN_H
#include "kernels/cpu/activation.h"
#include "kernels/cpu/loss.h"
#include "kernels/cpu/batchnorm.h"
#include "kernels/cpu/dropout.h"
#include "kernels/cpu/shape_ops.h"
#include "kernels/cpu/fused.h"
#endif
