#!/usr/bin/env bash
# (A copy of the bundling script the project was given with its GPU machines;
# bench/gpu-prepare.sh calls it.)
# bundle-runtime.sh OUT PROGRAM...
# Packs what the given programs (built here, on Debian 12) need at run time on a machine that has
# none of Debian's MPI/HDF5/BLAS libraries — e.g. a GPU machine with only a CUDA toolkit:
#   OUT/lib       every shared library the programs and Open MPI need, except glibc, libstdc++/libgcc
#                 and the CUDA libraries (cudart, cuBLAS, cuDNN, NCCL, the driver), which that machine has;
#                 with BUNDLE_CUDNN=1, also every libcudnn*.so* of this machine's CUDA (cuDNN 9 is a
#                 small libcudnn.so.9 that loads its sub-libraries, ~475 MiB together: too big for the
#                 lent machines' 64 MiB working tree, whose PyTorch brings its own cuDNN 9 (pip's
#                 nvidia-cudnn-cu13), which env.sh finds; set it for a machine without one);
#   OUT/ompi      a relocatable copy of Open MPI (mpirun/orted, its plugins, its help texts);
#   OUT/env.sh    source it there: sets OPAL_PREFIX, PATH, LD_LIBRARY_PATH (finding the CUDA,
#                 cuBLAS, cuDNN and NCCL libraries on that machine) and the settings for running as root.
# Typical use: build into a git-ignored folder of the repository, bundle into another one, and send
# both with the command that runs the GPU checks.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OUT PROGRAM..." >&2; exit 2; }
out=$1; shift
ompi_lib=/usr/lib/x86_64-linux-gnu/openmpi/lib
rm -rf "$out"; mkdir -p "$out/lib" "$out/ompi/bin" "$out/ompi/lib/x86_64-linux-gnu/openmpi" "$out/ompi/share"
cp -a "$ompi_lib" "$out/ompi/lib/x86_64-linux-gnu/openmpi/"
cp -a /usr/share/openmpi "$out/ompi/share/"
# only shared memory and TCP are used there: drop the InfiniBand/UCX/OFI/OpenSHMEM plugins and what they pull in
find "$out/ompi/lib" \( -name '*ucx*' -o -name '*ofi*' -o -name '*openib*' -o -name '*_uct*' -o -name '*verbs*' -o -name '*psm*' -o -name '*oshmem*' -o -name 'mca_spml_*' -o -name 'mca_sshmem_*' -o -name 'mca_scoll_*' -o -name 'mca_atomic_*' -o -name 'mca_memheap_*' -o -name '*java*' \) -exec rm -f {} +
# PMIx (Open MPI's launcher interface) with its plugins and help texts, relocated by PMIX_PREFIX
mkdir -p "$out/pmix/lib"; cp -a /usr/lib/x86_64-linux-gnu/pmix2/lib/pmix "$out/pmix/lib/"; cp -a /usr/lib/x86_64-linux-gnu/pmix2/share "$out/pmix/"
for b in orterun orted ompi_info; do cp -L "/usr/bin/$b" "$out/ompi/bin/"; done
ln -sf orterun "$out/ompi/bin/mpirun"; ln -sf orterun "$out/ompi/bin/mpiexec"
# glibc, the compiler runtime and the CUDA stack come from the target machine
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libresolv\.so|libutil\.so|libstdc\+\+\.so|libgcc_s\.so|libcuda\.so|libcudart\.so|libcublas\.so|libcublasLt\.so|libcudnn|libnccl\.so|libnvidia)'
objs=("$@" "$out"/ompi/bin/orterun "$out"/ompi/bin/orted "$out"/ompi/bin/ompi_info)
while IFS= read -r f; do objs+=("$f"); done < <(find "$out/ompi/lib" "$out/pmix/lib" -name '*.so*' -type f)
for o in "${objs[@]}"; do
  ldd "$o" 2>/dev/null | awk '$2=="=>" && $3 ~ /^\// {print $1, $3}' | while read -r name path; do
    [[ $name =~ $skip ]] && continue
    [[ $path == "$out"/* ]] && continue
    [ -e "$out/lib/$name" ] || cp -L "$path" "$out/lib/$name"
  done
done
# cuDNN: the loader libcudnn.so.9 and the sub-libraries it opens by name, all from one version
if [ "${BUNDLE_CUDNN:-0}" = 1 ]; then
  for o in "${objs[@]}"; do ldd "$o" 2>/dev/null || true; done | awk '$1 ~ /^libcudnn/ && $3 ~ /^\// {print $3}' |
    sort -u | while read -r path; do
    for f in "$(dirname "$path")"/libcudnn*.so.[0-9]*; do cp -L "$f" "$out/lib/"; done
  done
fi
cat >"$out/env.sh" <<'ENV'
# Source me on the target machine: . OUT/env.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export OPAL_PREFIX=$here/ompi PMIX_PREFIX=$here/pmix PMIX_MCA_mca_base_component_path=$here/pmix/lib/pmix
export PATH=$here/ompi/bin:$PATH
cuda_dirs=""
for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libnccl.so.2 libcudnn.so.9; do
  [ -e "$here/lib/$lib" ] && continue # bundled (BUNDLE_CUDNN=1)
  d=$(for p in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do [ -e "$p/$lib" ] && echo "$p" && break; done)
  # the pip wheels of the machine's PyTorch (nvidia-cudnn-cu13, nvidia-nccl-cu13, ...)
  [ -n "$d" ] || d=$(dirname "$(python3 -c 'import glob, site, sys; [print(p) for s in site.getsitepackages() for p in glob.glob(s + "/nvidia/*/lib/" + sys.argv[1])]' "$lib" 2>/dev/null | head -1)" 2>/dev/null)
  [ -n "$d" ] || d=$(dirname "$(find / -xdev -name "$lib" -path '*nvidia*' 2>/dev/null | head -1)" 2>/dev/null)
  [ -n "$d" ] && [ "$d" != . ] && case ":$cuda_dirs:" in *":$d:"*) ;; *) cuda_dirs=$cuda_dirs:$d;; esac
done
export LD_LIBRARY_PATH=$here/lib:$here/ompi/lib/x86_64-linux-gnu/openmpi/lib${cuda_dirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_pml=ob1 OMPI_MCA_rmaps_base_oversubscribe=1
# one machine, no ssh there: the local launcher still wants an agent that exists
export OMPI_MCA_plm_rsh_agent=/bin/false
ENV
tar -C "$(dirname "$out")" -czf "$out.tar.gz" "$(basename "$out")"
echo "bundle: $(du -sh "$out" | cut -f1) in $out, $(du -sh "$out.tar.gz" | cut -f1) as $out.tar.gz"
