#!/usr/bin/env bash
# tests/test_header_examples.sh: the code in the public headers' comments compiles against those headers, so the
# tutorial cannot drift from the API. Each example is cut out of its header (the comment's " *   " indent removed;
# "{ ... }" stands for error handling and becomes "{ return 1; }"), wrapped in a function with the names it
# assumes declared, and compiled with -Wall -Wextra -Werror; include/tfm.h's worked example is linked and built.
set -euo pipefail
src=${TFM_SOURCE:?TFM_SOURCE must point at the repository}
build=${TFM_BUILD:?TFM_BUILD must point at the build directory}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
passed=0; failed=0
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }

# extract HEADER FIRST_LINE_REGEX LAST_LINE_REGEX: the comment lines from the first match to the last, unindented.
extract() {
  sed -n "\\|$2|,\\|$3|p" "$src/include/$1" | sed -e 's|^ \*$||' -e 's|^ \*   \{0,1\}||' -e 's|{ \.\.\. }|{ return 1; }|g'
}

# compile NAME HEADER FIRST LAST PRELUDE: the example inside `int example(void) { PRELUDE ... return 0; }`.
compile() {
  local name=$1 header=$2 first=$3 last=$4 prelude=$5 body
  body=$(extract "$header" "$first" "$last")
  if [ -z "$body" ]; then fail "$name: no example found in include/$header between /$first/ and /$last/"; return; fi
  {
    echo '#include "tfm.h"'
    echo "$prelude"
    echo 'int example(void);'
    echo 'int example(void) {'
    echo "$body"
    echo '    return 0;'
    echo '}'
  } > "$work/$name.c"
  if cc -std=c11 -Wall -Wextra -Werror -Wno-unused-variable -Wno-unused-but-set-variable -fsyntax-only \
       -I"$src/include" "$work/$name.c" 2> "$work/$name.err"; then
    passed=$((passed + 1))
  else
    fail "$name (include/$header):"; cat "$work/$name.err"; cat -n "$work/$name.c"
  fi
}

compile graph tfm/graph.h '^ \*   tfm_graph \*g;' '^ \*   tfm_graph_free(g);' \
  'static tfm_tensor *model_loss(void *model, tfm_graph *g, void *batch) { (void)model; (void)batch; (void)g; return NULL; }
   static int steps = 1; static void *model, *batch;'
compile params tfm/tensor.h '^ \*   tfm_params_declare(p, "transformer.wte.weight"' '^ \*   tfm_params_allocate(p);' \
  'static tfm_params *p; static int vocab = 256, d_model = 64; static struct { tfm_tensor wte, ln_f_bias; } m, *model = &m;'
compile train tfm/train.h '^ \*   tfm_train_config config;' '^ \*   tfm_trainer_free(trainer);' \
  'static tfm_gpt *model;'

# The worked example of include/tfm.h is a whole program: build and link it.
sed -n '/^ \*   #include <stdio.h>/,/^ \*   }$/p' "$src/include/tfm.h" | sed -e 's|^ \*$||' -e 's|^ \*   \{0,1\}||' -e 's|{ \.\.\. }|{ return 1; }|g' > "$work/worked.c"
if [ ! -s "$work/worked.c" ]; then
  fail "tfm.h: the worked example was not found"
elif cc -std=c11 -Wall -Wextra -Werror -I"$src/include" "$work/worked.c" "$build/libtfm.a" -lopenblas -lutf8proc -lcjson -lm -fopenmp ${TFM_LINK_FLAGS:-} \
       -o "$work/worked" 2> "$work/worked.err"; then
  passed=$((passed + 1))
else
  fail "tfm.h worked example:"; cat "$work/worked.err"; cat -n "$work/worked.c"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
