/* op_list.h — every operator, once: MT_OP(variable_name). Each is defined
 * in src/ops/<name>.c as `const mt_op variable_name`. */
MT_OP(mt_op_fully_connected)
