
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/src/core/error.c" "CMakeFiles/tfm.dir/src/core/error.c.o" "gcc" "CMakeFiles/tfm.dir/src/core/error.c.o.d"
  "/work/main/src/core/memory.c" "CMakeFiles/tfm.dir/src/core/memory.c.o" "gcc" "CMakeFiles/tfm.dir/src/core/memory.c.o.d"
  "/work/main/src/core/params.c" "CMakeFiles/tfm.dir/src/core/params.c.o" "gcc" "CMakeFiles/tfm.dir/src/core/params.c.o.d"
  "/work/main/src/core/random.c" "CMakeFiles/tfm.dir/src/core/random.c.o" "gcc" "CMakeFiles/tfm.dir/src/core/random.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
