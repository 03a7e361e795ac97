file(REMOVE_RECURSE
  "CMakeFiles/tfm.dir/src/core/error.c.o"
  "CMakeFiles/tfm.dir/src/core/error.c.o.d"
  "CMakeFiles/tfm.dir/src/core/memory.c.o"
  "CMakeFiles/tfm.dir/src/core/memory.c.o.d"
  "CMakeFiles/tfm.dir/src/core/params.c.o"
  "CMakeFiles/tfm.dir/src/core/params.c.o.d"
  "CMakeFiles/tfm.dir/src/core/random.c.o"
  "CMakeFiles/tfm.dir/src/core/random.c.o.d"
  "libtfm.a"
  "libtfm.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/tfm.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
