# Helpers for A/B device runs, sourced from the repository root:
#   source scripts/ab_tree.sh
#   patched_copy build/src_x some.patch       # this tree (no build/, no .git) with a patch applied
#   one_config_build build/src_x build/site_x "64;128"  # bf16, D 128, q tile 128, those block
#                                                       # sizes, installed into build/site_x
# Each one-config build then runs from PYTHONPATH=build/site_x beside the others.
patched_copy() {
  rm -rf "$1"
  mkdir -p "$1"
  tar cf - --exclude=./build --exclude=./.git . | tar xf - -C "$1"
  (cd "$1" && patch -p1 -s < "$2") || echo "PATCH FAILED: $2"
}
one_config_build() {
  python3 -m pip install --no-build-isolation --no-deps -q --target "$2" -Cbuild-dir="$2.bld" \
    -Ccmake.define.CUTLASS_DIR="$PWD/third_party/cutlass" \
    -Ccmake.define.TRIAGEATTENTION_DTYPES=bf16 -Ccmake.define.TRIAGEATTENTION_HEAD_DIMS=128 \
    -Ccmake.define.TRIAGEATTENTION_Q_TILES=128 "-Ccmake.define.TRIAGEATTENTION_BLOCK_SIZES=$3" "$1"
}
