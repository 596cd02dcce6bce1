#!/usr/bin/env bash
# fuzz/make_modtrain_seeds.sh MODTRAIN — writes the seeds of the fuzz corpora
# that modtrain itself makes: checkpoints (fuzz/corpus/checkpoint), dataset
# files of `modtrain synth` (fuzz/corpus/h5_dataset) and the symbol files
# beside the checkpoints (fuzz/corpus/symbol_json). Run ONCE by hand with a
# built command (e.g. build/modtrain) and commit the outputs; never part of
# the build or of CI. Needs h5repack (hdf5-tools).
#
# The checkpoints: tiny networks trained one epoch on the tutorial's
# synthetic data (6 features, 3 classes, 16 samples) with sgd + momentum (as
# written: 268 KiB, mostly the space reserved for metadata; and epoch 2),
# adam with BatchNorm and Dropout, centered rmsprop, adagrad and nag; the
# smaller copies are h5repack'd in HDF5's 1.8 format (--low=1 --high=1,
# which modtrain reads), keeping HDF5's checksummed metadata and modtrain's
# digests (not the metadata trailer: h5repack writes a new file).
#
# The checkpoints are named modtrain-v3-* (checkpoint format 3: XXH3
# digests). Seeds of the older formats were written by this script with the
# modtrain of their time and are kept as they are, so the fuzzer keeps
# reaching their code paths: modtrain-*-0001*.h5 without a version (format 1,
# no digests) and modtrain-v2-* (format 2, XXH64 digests; tests/data/ holds
# its unrepacked epoch 2).
set -euo pipefail
M=$(realpath "${1:?usage: fuzz/make_modtrain_seeds.sh MODTRAIN}")
cd "$(dirname "$0")/.."
C=$PWD/fuzz/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp jobs/configs/tutorial.ini "$work/"
cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
base=(tutorial.ini --set data.feature_dim=6 --set data.num_classes=3 --set data.num_samples=16
  --set data.batch_size=8)
small="FullyConnected fc1 num_hidden=3;SoftmaxOutput softmax"
"$M" "${base[@]}" --set train.num_epoch=2 --set train.momentum=0.9 --set checkpoint.prefix=ck/mlp \
  --set model.layers="FullyConnected fc1 num_hidden=5;Activation relu1 act_type=relu;FullyConnected fc2 num_hidden=3;SoftmaxOutput softmax" >/dev/null
"$M" "${base[@]}" --set train.num_epoch=1 --set train.optimizer=adam --set checkpoint.prefix=ck/adam \
  --set model.layers="FullyConnected fc1 num_hidden=4;BatchNorm bn1;Activation relu1 act_type=relu;Dropout d1 p=0.2;FullyConnected fc2 num_hidden=3;SoftmaxOutput softmax" >/dev/null
"$M" "${base[@]}" --set train.num_epoch=1 --set train.optimizer=rmsprop --set train.centered=true \
  --set checkpoint.prefix=ck/rms --set model.layers="$small" >/dev/null
"$M" "${base[@]}" --set train.num_epoch=1 --set train.optimizer=adagrad \
  --set checkpoint.prefix=ck/adagrad --set model.layers="$small" >/dev/null
"$M" "${base[@]}" --set train.num_epoch=1 --set train.optimizer=nag --set train.momentum=0.5 \
  --set checkpoint.prefix=ck/nag --set model.layers="$small" >/dev/null
mkdir -p "$C/checkpoint" "$C/h5_dataset" "$C/symbol_json"
V=v3
cp ck/mlp-0001.h5 "$C/checkpoint/modtrain-$V-sgd-momentum-0001.h5"
h5repack --low=1 --high=1 ck/mlp-0002.h5 "$C/checkpoint/modtrain-$V-sgd-momentum-0002-repacked.h5"
for n in adam rms adagrad nag; do
  h5repack --low=1 --high=1 ck/$n-0001.h5 "$C/checkpoint/modtrain-$V-$n-0001-repacked.h5"
done
cp ck/adam-symbol.json "$C/symbol_json/modtrain-bn-dropout-symbol.json"
cp ck/mlp-symbol.json "$C/symbol_json/modtrain-mlp-symbol.json"
"$M" synth --classes 3 --dim 4 --samples 9 --seed 2 "$C/h5_dataset/modtrain-synth.h5"
"$M" synth --classes 2 --dim 3 --samples 5 --seed 1 --part 1 "$C/h5_dataset/modtrain-synth-part1.h5"
