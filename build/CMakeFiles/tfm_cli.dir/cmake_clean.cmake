file(REMOVE_RECURSE
  "CMakeFiles/tfm_cli.dir/src/cli/main.c.o"
  "CMakeFiles/tfm_cli.dir/src/cli/main.c.o.d"
  "tfm"
  "tfm.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/tfm_cli.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
