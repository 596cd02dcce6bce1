#!/usr/bin/env python3
"""make_mxnet_seeds.py - writes the real-MXNet and h5py seed files of the fuzz
corpora (fuzz/corpus/symbol_json, params, h5_dataset). Run ONCE by hand and
commit its outputs; it is never part of the build or of CI:

    python3 -m venv /tmp/mxvenv
    /tmp/mxvenv/bin/pip install mxnet==1.9.1 'numpy<1.24' h5py
    /tmp/mxvenv/bin/python fuzz/make_mxnet_seeds.py

The symbols are saved with MXNet 1.9.1's sym.save, the parameter files with
mx.nd.save (and a Gluon save_parameters file), the datasets with h5py; all
are small (a few KiB) so that the fuzzers mutate them quickly.
"""
import os
import sys

import h5py
import mxnet as mx
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def out(target, name):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, name)


def symbols():
    data = mx.sym.Variable("data")
    # the Module tutorial's MLP
    fc1 = mx.sym.FullyConnected(data, name="fc1", num_hidden=64)
    act1 = mx.sym.Activation(fc1, name="relu1", act_type="relu")
    fc2 = mx.sym.FullyConnected(act1, name="fc2", num_hidden=10)
    mlp = mx.sym.SoftmaxOutput(fc2, name="softmax")
    mlp.save(out("symbol_json", "mxnet-mlp-symbol.json"))

    # BatchNorm (aux states), Dropout, Concat, LeakyReLU, Flatten,
    # elemwise_add, ElementWiseSum, other activations
    x = mx.sym.Flatten(data, name="flat")
    a = mx.sym.FullyConnected(x, name="fa", num_hidden=16)
    a = mx.sym.BatchNorm(a, name="bn1", fix_gamma=False, momentum=0.9, eps=1e-5)
    a = mx.sym.LeakyReLU(a, name="lrelu", act_type="leaky", slope=0.1)
    b = mx.sym.FullyConnected(x, name="fb", num_hidden=16)
    b = mx.sym.Activation(b, name="tanh1", act_type="tanh")
    b = mx.sym.Dropout(b, name="drop1", p=0.3)
    c = mx.sym.Concat(a, b, name="cat", dim=1)
    d = mx.sym.FullyConnected(c, name="fd", num_hidden=8)
    e = mx.sym.FullyConnected(c, name="fe", num_hidden=8)
    s = mx.sym.elemwise_add(d, e, name="add1")
    f = mx.sym.Activation(s, name="sig", act_type="sigmoid")
    g = mx.sym.LeakyReLU(s, name="elu", act_type="elu", slope=0.25)
    h = mx.sym.ElementWiseSum(f, g, s, name="esum")
    out_ = mx.sym.FullyConnected(h, name="fout", num_hidden=4)
    net = mx.sym.SoftmaxOutput(out_, name="softmax", grad_scale=1.0, ignore_label=-1,
                               use_ignore=True, normalization="valid")
    net.save(out("symbol_json", "mxnet-bn-dropout-concat-symbol.json"))

    # the regression losses, softrelu / softsign, a variable with attributes
    w = mx.sym.Variable("reg_weight", lr_mult=2.0, wd_mult=0.0, init=mx.init.Normal(0.01))
    r = mx.sym.FullyConnected(data, weight=w, name="reg", num_hidden=3)
    r = mx.sym.Activation(r, name="srelu", act_type="softrelu")
    lin = mx.sym.LinearRegressionOutput(r, name="lin", grad_scale=2.0)
    lr = mx.sym.Activation(r, name="ssign", act_type="softsign")
    log = mx.sym.LogisticRegressionOutput(lr, name="logistic")
    mae = mx.sym.MAERegressionOutput(r, name="mae")
    mx.sym.Group([lin, log, mae]).save(out("symbol_json", "mxnet-regression-symbol.json"))

    # no bias, flatten=False, a shape attribute on data
    d2 = mx.sym.Variable("data", shape=(4, 3, 2))
    n = mx.sym.FullyConnected(d2, name="nb", num_hidden=5, no_bias=True, flatten=False)
    n = mx.sym.Flatten(n, name="nflat")
    n = mx.sym.SoftmaxOutput(n, name="softmax", multi_output=False, preserve_shape=False)
    n.save(out("symbol_json", "mxnet-nobias-symbol.json"))
    return mlp, net


def params(mlp, net):
    rng = np.random.RandomState(0)
    # named arg:/aux: dict of a bound network, as save_checkpoint writes
    mod = mx.mod.Module(net, data_names=["data"], label_names=["softmax_label"])
    mod.bind(data_shapes=[("data", (2, 6))], label_shapes=[("softmax_label", (2,))])
    mod.init_params(initializer=mx.init.Xavier(magnitude=2))
    arg, aux = mod.get_params()
    d = {"arg:" + k: v for k, v in arg.items()}
    d.update({"aux:" + k: v for k, v in aux.items()})
    mx.nd.save(out("params", "mxnet-bn-0001.params"), d)
    mod = mx.mod.Module(mlp)
    mod.bind(data_shapes=[("data", (2, 5))], label_shapes=[("softmax_label", (2,))])
    mod.init_params()
    mod.save_params(out("params", "mxnet-mlp-0001.params"))
    # an unnamed list
    mx.nd.save(out("params", "mxnet-list.params"),
               [mx.nd.array(rng.randn(3, 2)), mx.nd.array(rng.randn(4))])
    # other element types
    mx.nd.save(out("params", "mxnet-dtypes.params"), {
        "arg:f16": mx.nd.array(rng.randn(2, 3), dtype="float16"),
        "arg:f64": mx.nd.array(rng.randn(3), dtype="float64"),
        "arg:i32": mx.nd.array([[1, -2], [3, 4]], dtype="int32"),
        "arg:i8": mx.nd.array([-1, 2, 3], dtype="int8"),
        "arg:u8": mx.nd.array([1, 2, 250], dtype="uint8"),
        "aux:i64": mx.nd.array([7, -8], dtype="int64"),
        "arg:f32_4d": mx.nd.array(rng.randn(1, 2, 1, 2)),
    })
    # Gluon's save_parameters: bare names
    gnet = mx.gluon.nn.HybridSequential()
    gnet.add(mx.gluon.nn.Dense(4, activation="relu"), mx.gluon.nn.BatchNorm(), mx.gluon.nn.Dense(2))
    gnet.initialize()
    gnet(mx.nd.ones((1, 3)))
    gnet.save_parameters(out("params", "gluon.params"))
    # numpy semantics (V3 NDArrays: a scalar and a zero-size array)
    mx.npx.set_np()
    try:
        mx.npx.save(out("params", "mxnet-np-v3.params"), {
            "arg:scalar": mx.np.array(3.5),
            "arg:empty": mx.np.zeros((0, 3)),
            "arg:m": mx.np.array(rng.randn(2, 2)),
        })
    finally:
        mx.npx.reset_np()


def datasets():
    rng = np.random.RandomState(1)
    # h5py defaults: contiguous, no attributes
    with h5py.File(out("h5_dataset", "h5py-plain.h5"), "w") as f:
        f["data"] = rng.rand(8, 4).astype("float32")
        f["label"] = rng.randint(0, 3, 8).astype("float32")
    # chunked, gzip, Fletcher32, modtrain's attributes
    with h5py.File(out("h5_dataset", "h5py-chunked.h5"), "w") as f:
        f.create_dataset("data", data=rng.rand(10, 3).astype("float32"), chunks=(4, 3),
                         maxshape=(None, 3), compression="gzip", fletcher32=True)
        f.create_dataset("label", data=rng.randint(0, 4, 10).astype("float32"), chunks=(4,),
                         maxshape=(None,), fletcher32=True)
        f.attrs["format_version"] = np.int64(1)
        f.attrs["num_classes"] = np.int64(4)
        f.attrs["seed"] = np.uint64(5)
        f.attrs["generator"] = "h5py"
    # [N, k] regression targets, 3-d samples, the newest file format
    with h5py.File(out("h5_dataset", "h5py-regression-3d.h5"), "w", libver="latest") as f:
        f["data"] = rng.rand(6, 2, 3).astype("float32")
        f["label"] = rng.rand(6, 2).astype("float32")
        f.attrs["num_classes"] = np.int64(0)
    # big-endian data, labels out of range for num_classes
    with h5py.File(out("h5_dataset", "h5py-bigendian.h5"), "w") as f:
        f["data"] = rng.rand(5, 2).astype(">f4")
        f["label"] = np.array([0, 1, 2, 9, 1], dtype=">f4")
        f.attrs["num_classes"] = np.int64(3)


def main():
    if mx.__version__ != "1.9.1":
        sys.exit("make_mxnet_seeds.py: needs MXNet 1.9.1, found %s" % mx.__version__)
    mlp, net = symbols()
    params(mlp, net)
    datasets()


if __name__ == "__main__":
    main()
